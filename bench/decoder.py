"""One model decoding on its own, for ``measure_models``: a process as a worker would be.

    python -m bench.decoder MODEL.gguf TOKENS THREADS

Loads the model, prints "loaded", waits for a line on stdin (so that several decoders start
at the same moment), decodes TOKENS tokens at temperature 0 and prints {"tokens_per_s": x}.
Needs neither Django nor the project: only llama-cpp-python.
"""

import json
import sys
import time

PROMPT = "Count from one to one thousand in words, one number per line:\none\ntwo\nthree\n"


def decode(path: str, tokens: int, threads: int) -> float:
    from llama_cpp import Llama

    llama = Llama(model_path=path, n_ctx=512, n_threads=threads, verbose=False)
    print("loaded", flush=True)
    sys.stdin.readline()
    generated, first_at = 0, 0.0
    for _ in llama.generate(llama.tokenize(PROMPT.encode()), temp=0.0, repeat_penalty=1.0):
        generated += 1
        if generated == 1:
            first_at = time.perf_counter()
        if generated >= tokens:
            break
    return (generated - 1) / (time.perf_counter() - first_at)


if __name__ == "__main__":
    rate = decode(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps({"tokens_per_s": rate}), flush=True)
