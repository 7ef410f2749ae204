"""The index of measured faces: faiss's HNSW graph over SFace features, labelled by measurement id.

Features are unit length, so the inner product is the cosine and a face's distance to another is
``1 - inner product``. A search returns each face's ``K`` nearest faces with ``EF_SEARCH``
candidates explored (``EF_SEARCH_NEW`` for a run's new faces, searched alone); the pairs within
the policy's bound are what the base-wide signal needs (``bench/face_index.py`` measures the recall
of these settings against exact search).

The file is faiss's own serialisation of the index, written to a temporary file beside the target
and renamed over it, so a reader sees the old index or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

DIM = 128  # SFace's feature
HNSW_M = 32  # links per node
EF_CONSTRUCTION = 100
EF_SEARCH = 128  # a whole-base search: each pair has two chances, one from each face
EF_SEARCH_NEW = 512  # new faces searched alone (few per run): each pair has one chance
K = 16  # neighbours asked for per face

Matrix = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


def unit_rows(vectors: npt.ArrayLike) -> Matrix:
    """``vectors`` as contiguous float32 rows of unit length (a zero row stays zero)."""
    out = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, DIM))
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


class FaceVectors:
    """An HNSW index of unit vectors labelled by int64 ids (measurement ids)."""

    def __init__(
        self,
        index: Any | None = None,
        *,
        m: int = HNSW_M,
        ef_construction: int = EF_CONSTRUCTION,
        ef_search: int = EF_SEARCH,
        k: int = K,
    ) -> None:
        if index is None:
            graph = faiss.IndexHNSWFlat(DIM, m, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = ef_construction
            index = faiss.IndexIDMap(graph)
        self._index = index
        self.ef_search, self.k = ef_search, k

    @classmethod
    def load(cls, path: Path) -> FaceVectors:
        return cls(faiss.read_index(str(path)))

    def save(self, path: Path) -> int:
        """Write the index to ``path`` (atomically); its size in bytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            faiss.write_index(self._index, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path.stat().st_size

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    def labels(self) -> Labels:
        return np.asarray(faiss.vector_to_array(self._index.id_map), dtype=np.int64)

    def add(self, labels: Labels, vectors: Matrix) -> None:
        if len(labels):
            self._index.add_with_ids(unit_rows(vectors), np.ascontiguousarray(labels, dtype=np.int64))

    def search(self, vectors: Matrix, ef_search: int | None = None) -> tuple[Matrix, Labels]:
        """The ``k`` nearest labels of each row and their distances (``1 - cosine``), ``ef_search`` (else
        the index's own) candidates explored; label -1 where the index holds fewer faces."""
        k, ef_search = self.k, ef_search or self.ef_search
        if not len(vectors) or self.count == 0:
            n = len(vectors)
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        params = faiss.SearchParametersHNSW(efSearch=max(ef_search, k))  # type: ignore[attr-defined]
        sims, labels = self._index.search(unit_rows(vectors), min(k, self.count), params=params)
        return (1.0 - sims).astype(np.float32), labels


def pairs_within(
    labels: Labels,
    distances: Matrix,
    neighbours: Labels,
    bound: float,
    into: dict[tuple[int, int], float] | None = None,
) -> dict[tuple[int, int], float]:
    """(smaller id, larger id) -> distance for each searched face's neighbours within ``bound``,
    the face itself left out, added to ``into`` (a new dict when None); a pair found again (from its
    other end, or in another batch) keeps its smaller distance."""
    out: dict[tuple[int, int], float] = {} if into is None else into
    rows, cols = np.nonzero((distances <= bound) & (neighbours >= 0))
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        a, b = int(labels[r]), int(neighbours[r, c])
        if a == b:
            continue
        key = (a, b) if a < b else (b, a)
        d = max(0.0, float(distances[r, c]))
        if key not in out or d < out[key]:
            out[key] = d
    return out


def exact_pairs(labels: Labels, vectors: Matrix, bound: float, block: int = 4096) -> dict[tuple[int, int], float]:
    """Every pair within ``bound`` by brute force (quadratic: for tests and the benchmark's truth)."""
    unit = unit_rows(vectors)
    out: dict[tuple[int, int], float] = {}
    for start in range(0, len(unit), block):
        sims = unit[start : start + block] @ unit.T
        rows, cols = np.nonzero(1.0 - sims <= bound)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if i < c:
                a, b = int(labels[i]), int(labels[c])
                out[(a, b) if a < b else (b, a)] = max(0.0, float(1.0 - sims[r, c]))
    return out
