"""The face index: HNSW search of unit vectors labelled by measurement id, against exact search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scanner.faceindex.vectors import DIM, FaceVectors, exact_pairs, pairs_within, unit_rows


def _base(n: int, twins: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random unit vectors, the last ``twins`` of them near copies of earlier ones (cosine ~0.9)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    for i in range(twins):
        source = vectors[i] / np.linalg.norm(vectors[i])
        noise = rng.standard_normal(DIM).astype(np.float32)
        vectors[n - twins + i] = source + 0.45 * noise / np.linalg.norm(noise)
    labels = np.arange(1000, 1000 + n, dtype=np.int64)
    return labels, unit_rows(vectors)


def test_unit_rows_normalises_and_keeps_a_zero_row_zero() -> None:
    rows = unit_rows(np.vstack([np.full(DIM, 3.0), np.zeros(DIM)]))
    assert np.isclose(np.linalg.norm(rows[0]), 1.0) and not rows[1].any()


def test_the_index_finds_the_pairs_exact_search_finds(tmp_path: Path) -> None:
    labels, vectors = _base(3000, 60)
    truth = exact_pairs(labels, vectors, 0.2)
    assert len(truth) == 60  # random 128-d vectors are never that close by chance
    index = FaceVectors()
    index.add(labels[:2000], vectors[:2000])
    index.add(labels[2000:], vectors[2000:])  # added later: searched on their own
    distances, neighbours = index.search(vectors[2000:])
    found = pairs_within(labels[2000:], distances, neighbours, 0.2)
    assert found.keys() == truth.keys()
    for key, d in truth.items():
        assert found[key] == pytest.approx(d, abs=1e-4)
    path = tmp_path / "faces.hnsw"
    assert index.save(path) == path.stat().st_size > 3000 * DIM * 4
    again = FaceVectors.load(path)
    assert again.count == 3000 and set(again.labels().tolist()) == set(labels.tolist())
    assert pairs_within(labels[2000:], *again.search(vectors[2000:]), 0.2) == found
    assert not list(tmp_path.glob("*.tmp"))


def test_pairs_within_leaves_the_face_itself_out_and_keeps_the_nearer_distance() -> None:
    labels = np.array([5, 9], dtype=np.int64)
    neighbours = np.array([[5, 9, -1], [9, 5, 7]], dtype=np.int64)
    distances = np.array([[0.0, 0.1, 0.0], [0.0, 0.08, 0.5]], dtype=np.float32)
    assert pairs_within(labels, distances, neighbours, 0.2) == {(5, 9): pytest.approx(0.08)}


def test_an_empty_index_answers_with_nothing() -> None:
    distances, neighbours = FaceVectors().search(unit_rows(np.ones((2, DIM))))
    assert distances.shape == (2, 0) and neighbours.shape == (2, 0)
