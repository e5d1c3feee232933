"""An approximate nearest-neighbour index of one workspace's vectors of one model.

Exact search compares a question with every vector: at 100,000 passages that is tens of
milliseconds on two busy cores, and the matrix is held in every process. Above
KNOWLEDGE_VECTOR_INDEX_FROM passages a workspace's vectors go into faiss's inverted-file index
instead (``IndexIVFScalarQuantizer``, inner product): k-means centroids split the vectors into
about √n lists, and a question is compared only with the vectors of the PROBED_SHARE of lists
whose centroids are nearest. Each vector is kept as one byte a dimension (a quarter of
float32: searching is reading memory, so it is also four times faster), which moves scores by
about a thousandth; a passage filed in a list not probed can be missed (recall@10 against
exact search, speed and memory are in ``bench/README.md``).

Why IVF from faiss (compared in ``bench/README.md``): it is built in seconds where a graph
index (HNSW: faiss's, usearch's) takes minutes at a million vectors on two cores, and it
adds and removes vectors by id in place, which sources being indexed, re-indexed, removed and
re-embedded need. Its centroids are learnt from the vectors at build time; when the
workspace has grown past REBUILD_GROWTH times what they were learnt on, it is built anew.

The index lives beside the database, not in it: under KNOWLEDGE_VECTOR_INDEX_DIR, one file
per (workspace, model) in a folder per database, so both databases use it alike. A process
loads it and brings it up to date with the passages (``index_current``): the ids in the
database against the ids in the index, the missing vectors added and the gone ones removed.
A file missing, unreadable or of another dimension is rebuilt.
"""

import hashlib
import logging
import os
import threading
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings
from django.db import connection

from workspace.models import Workspace

from .embedding import vector_from
from .models import Chunk

logger = logging.getLogger(__name__)

# One question at a time gains nothing from faiss's threads, and on busy cores their waiting
# for each other made a search's p95 ten times its median.
faiss.omp_set_num_threads(1)

PROBED_SHARE = 1 / 8  # of the lists, at least MIN_PROBES: recall@10 ≥ 0.95 (bench/README.md)
MIN_PROBES = 8
REBUILD_GROWTH = 4
TRAINING_PER_LIST = 64  # vectors per list to learn the centroids from
READ_BATCH = 5000
FORMAT = 1


class VectorIndex:
    """faiss's IVF index of some chunks' vectors, with each chunk's source (to search only
    some sources) and the ``version`` of the workspace's passages it holds.

    faiss does not allow a search while vectors are added or removed: both take the lock.
    """

    def __init__(
        self,
        index: faiss.IndexIVF,
        *,
        ids: np.ndarray,
        source_ids: np.ndarray,
        version: int,
        trained_on: int,
    ) -> None:
        self._index = index
        self.ids = ids  # sorted
        self.source_ids = source_ids  # the source of each of ``ids``
        self.version = version
        self.trained_on = trained_on
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls, *, ids: np.ndarray, source_ids: np.ndarray, vectors: np.ndarray, version: int
    ) -> "VectorIndex":
        """An index of ``vectors`` (rows of ``ids``), its centroids learnt from a sample."""
        count, dimension = vectors.shape
        lists = max(1, int(np.sqrt(count)))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dimension),
            dimension,
            lists,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
        sample = np.random.default_rng(0).choice(
            count, size=min(count, lists * TRAINING_PER_LIST), replace=False
        )
        index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
        built = cls(
            index,
            ids=np.zeros(0, dtype=np.int64),
            source_ids=np.zeros(0, dtype=np.int64),
            version=version,
            trained_on=count,
        )
        built.add(ids, source_ids, vectors)
        return built

    def add(self, ids: np.ndarray, source_ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        with self._lock:
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
            order = np.argsort(np.concatenate([self.ids, ids]), kind="stable")
            self.ids = np.concatenate([self.ids, ids])[order]
            self.source_ids = np.concatenate([self.source_ids, source_ids])[order]

    def remove(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        with self._lock:
            self._index.remove_ids(faiss.IDSelectorBatch(ids.astype(np.int64)))
            kept = ~np.isin(self.ids, ids)
            self.ids, self.source_ids = self.ids[kept], self.source_ids[kept]

    def sources_follow(self, source_ids: np.ndarray) -> bool:
        """Take ``source_ids`` as the sources of ``ids`` (a passage can be moved to another
        source: an address changed); whether any had changed."""
        if np.array_equal(source_ids, self.source_ids):
            return False
        with self._lock:
            self.source_ids = source_ids
        return True

    def search(
        self, query: np.ndarray, limit: int, *, source_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the ``limit`` nearest vectors found (of ``source_ids`` only, if given)
        and their inner products with ``query``, best first."""
        lists = self._index.nlist
        probes = max(MIN_PROBES, int(lists * PROBED_SHARE))
        params = faiss.SearchParametersIVF()
        if source_ids is not None:
            allowed = self.ids[np.isin(self.source_ids, source_ids)]
            # Few allowed vectors may lie in no probed list: probe more, in proportion.
            share = len(allowed) / max(1, len(self.ids))
            probes = int(probes / share) if share else lists
            params.sel = faiss.IDSelectorBatch(allowed)
        params.nprobe = min(lists, probes)
        with self._lock:
            scores, found = self._index.search(query.reshape(1, -1), limit, params=params)
        kept = found[0] >= 0
        return found[0][kept], scores[0][kept]

    def memory_bytes(self) -> int:
        """What the index holds in memory: vectors, ids, centroids, sources."""
        vectors = len(self.ids) * (self._index.code_size + 8)
        centroids = self._index.nlist * self.dimension * 4
        return vectors + centroids + self.ids.nbytes + self.source_ids.nbytes

    def save(self, path: Path) -> None:
        """Write the index to ``path`` whole or not at all (a temporary file renamed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        with self._lock, temporary.open("wb") as file:
            np.savez(
                file,
                format=np.array(FORMAT),
                index=faiss.serialize_index(self._index),
                ids=self.ids,
                source_ids=self.source_ids,
                version=np.array(self.version),
                trained_on=np.array(self.trained_on),
            )
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> "VectorIndex | None":
        """The index saved at ``path``; None if there is none or it cannot be read."""
        try:
            with np.load(path) as saved:
                if int(saved["format"]) != FORMAT:
                    return None
                return cls(
                    _ivf(faiss.deserialize_index(saved["index"])),
                    ids=saved["ids"],
                    source_ids=saved["source_ids"],
                    version=int(saved["version"]),
                    trained_on=int(saved["trained_on"]),
                )
        except FileNotFoundError:
            return None
        except Exception:
            logger.warning("Unreadable vector index %s: rebuilding it", path, exc_info=True)
            return None


def _ivf(index: faiss.Index) -> faiss.IndexIVF:
    """``index`` as the IVF index it is (faiss returns the saved one as its own class)."""
    if not isinstance(index, faiss.IndexIVF):
        raise TypeError(f"Not an IVF index: {type(index).__name__}")
    return index


def index_path(workspace_id: int, model: str) -> Path:
    """Where the index of the workspace's vectors of ``model`` is kept: in a folder of this
    database's own, under a name with the workspace's creation time, so that a database made
    anew under the same name (its workspace 1 another workspace, its ids the same numbers)
    never finds an index of the old one's."""
    workspace = Workspace.objects.filter(pk=workspace_id)
    created = workspace.values_list("created_at", flat=True).first()
    born = int(created.timestamp() * 1_000_000) if created else 0
    name = hashlib.sha256(model.encode()).hexdigest()[:16]
    return _database_folder() / f"{workspace_id}-{born}-{name}.npz"


def indexes_remove(workspace_id: int) -> None:
    """Remove every index kept of the workspace's vectors, of any model (before a rebuild,
    and when the workspace is deleted)."""
    for path in _database_folder().glob(f"{workspace_id}-*.npz"):
        path.unlink(missing_ok=True)


def _database_folder() -> Path:
    database = connection.settings_dict
    where = f"{connection.vendor}:{database['HOST']}:{database['PORT']}:{database['NAME']}"
    folder = hashlib.sha256(where.encode()).hexdigest()[:16]
    return Path(settings.KNOWLEDGE_VECTOR_INDEX_DIR) / folder


def index_current(
    *, workspace_id: int, model: str, version: int, index: VectorIndex | None
) -> VectorIndex:
    """The index of the workspace's vectors of ``model`` as of ``version``: ``index`` (or the
    saved one) brought up to date with the passages, or built anew; saved when changed."""
    path = index_path(workspace_id, model)
    if index is None:
        index = VectorIndex.load(path)
    chunks = Chunk.objects.filter(workspace_id=workspace_id, embedding_model=model)
    rows = np.array(list(chunks.order_by("id").values_list("id", "source_id")), dtype=np.int64)
    ids, source_ids = rows.reshape(-1, 2).T
    dimension = chunks.values_list("dimension", flat=True).first() or 0
    if (
        index is None
        or index.dimension != dimension
        or len(ids) > REBUILD_GROWTH * index.trained_on
    ):
        found, vectors = vectors_read(ids, dimension=dimension)
        indexes_remove(workspace_id)  # of another model (re-embedded) or workspace
        index = VectorIndex.build(
            ids=ids[found], source_ids=source_ids[found], vectors=vectors, version=version
        )
    else:
        removed = np.setdiff1d(index.ids, ids, assume_unique=True)
        index.remove(removed)
        added = np.isin(ids, index.ids, invert=True)
        found, vectors = vectors_read(ids[added], dimension=dimension)
        index.add(ids[added][found], source_ids[added][found], vectors)
        index.version = version
        moved = index.sources_follow(source_ids[np.isin(ids, index.ids)])
        if not (len(removed) or found.any() or moved):
            return index  # as saved: nothing to write
    index.save(path)
    return index


def vectors_read(ids: np.ndarray, *, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of chunks ``ids`` still exist, and their vectors in that order, read a batch at
    a time (a chunk deleted since its id was read is left out: the next search adds its
    workspace's new version anyway)."""
    found = np.zeros(len(ids), dtype=bool)
    matrix = np.empty((len(ids), dimension), dtype=np.float32)
    for start in range(0, len(ids), READ_BATCH):
        batch = ids[start : start + READ_BATCH].tolist()
        vectors = dict(Chunk.objects.filter(id__in=batch).values_list("id", "embedding"))
        for offset, chunk_id in enumerate(batch):
            vector = vectors.get(chunk_id)
            if vector is not None:
                matrix[start + offset] = vector_from(bytes(vector), dimension)
                found[start + offset] = True
    return found, matrix[found]
