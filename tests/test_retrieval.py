"""reclab.retrieval: the faiss index against numpy brute force, two-stage retrieval against
`recommend`, the memory arithmetic against the serialised index and by hand, and bad inputs.

References are independent of the code under test: exact search is ``np.argsort`` of ``Q @ V.T``,
recall is measured against it, and two-stage lists are compared with the models' own
`recommend` (full scoring), never with another run of `two_stage`.
"""
from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch

from reclab.data import leave_last_out, make_synthetic
from reclab.models import ALS, BPR, EASE, SASRec
from reclab.retrieval import (ItemIndex, full_scoring_bytes, index_bytes, item_vectors, query_vectors,
                              two_stage)

faiss.omp_set_num_threads(1)  # the test machine is shared; one thread also makes the timings honest


def brute_force(queries: np.ndarray, vectors: np.ndarray, n: int) -> np.ndarray:
    """(q, n) ids of the largest inner products, by sorting every score (float64, so no near-ties flip)."""
    return np.argsort(-(queries.astype(np.float64) @ vectors.astype(np.float64).T), axis=1, kind="stable")[:, :n]


def clustered(n: int, d: int, n_clusters: int, seed: int) -> np.ndarray:
    """Gaussian clusters with item norms spread as in a factor model: MIPS that is neither trivial nor hopeless."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, d))
    x = centres[rng.integers(n_clusters, size=n)] + 0.7 * rng.normal(size=(n, d))
    return np.ascontiguousarray(x * rng.lognormal(0, 0.3, size=(n, 1)) / np.sqrt(d), dtype=np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def catalogue():
    return clustered(4000, 32, 40, seed=0), clustered(200, 32, 40, seed=1)


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=200, n_items=300, seed=4))


@pytest.fixture(scope="module")
def als(split):
    return ALS(n_factors=16, n_epochs=6, seed=0).fit(split.train)


# ------------------------------------------------------------------------------ the index
def test_flat_index_equals_numpy_brute_force(catalogue):
    vectors, queries = catalogue
    ids, scores = ItemIndex(vectors, kind="flat").search(queries, 25)
    truth = brute_force(queries, vectors, 25)
    np.testing.assert_array_equal(ids, truth)
    np.testing.assert_allclose(scores, np.einsum("qd,qnd->qn", queries, vectors[truth]), rtol=1e-5, atol=1e-6)
    assert ids.dtype == np.int64 and scores.dtype == np.float32


@pytest.mark.parametrize("kind, knobs, threshold", [
    ("hnsw", dict(M=16, ef_construction=100, ef_search=200), 0.93),
    ("ivf", dict(nlist=64, nprobe=16, seed=0), 0.90),
])
def test_approximate_index_recall_at_50_against_brute_force(catalogue, kind, knobs, threshold):
    # 4,000 items of d = 32 in 40 clusters, 200 queries, 50 neighbours each (measured when written:
    # HNSW 0.964, IVF 0.938; ef_search=100 gave 0.91 and nprobe=8 0.79, so the knobs matter); a
    # broken graph or cell assignment falls far below these thresholds
    vectors, queries = catalogue
    ids, scores = ItemIndex(vectors, kind=kind, **knobs).search(queries, 50)
    assert recall(ids, brute_force(queries, vectors, 50)) >= threshold
    found = ids >= 0  # whatever is returned carries its true inner product
    np.testing.assert_allclose(scores[found], np.einsum("qd,qd->q", np.repeat(queries, 50, 0)[found.ravel()],
                                                        vectors[ids[found]]), rtol=1e-4, atol=1e-5)


def test_hnsw_keeps_at_least_n_candidates(catalogue):
    vectors, queries = catalogue
    index = ItemIndex(vectors, kind="hnsw", M=16, ef_search=1)
    short, _ = index.search(queries, 50)
    index.index.hnsw.efSearch = 50
    np.testing.assert_array_equal(short, index.search(queries, 50)[0])  # as if ef_search were n
    assert (short >= 0).all()


def test_ivf_reading_every_cell_is_exact(catalogue):
    vectors, queries = catalogue
    ids, _ = ItemIndex(vectors, kind="ivf", nlist=16, nprobe=16).search(queries, 20)
    assert recall(ids, brute_force(queries, vectors, 20)) == 1.0


def test_ivf_that_finds_too_few_pads_with_minus_one():
    vectors = clustered(300, 8, 10, seed=2)
    ids, scores = ItemIndex(vectors, kind="ivf", nlist=10, nprobe=1).search(vectors[:5], 200)
    assert (ids == -1).any() and np.isneginf(scores[ids == -1]).all()
    assert all(len(set(row[row >= 0])) == (row >= 0).sum() for row in ids)  # no item twice


# ------------------------------------------------------------------------------ memory
@pytest.mark.parametrize("kind, knobs", [("flat", {}), ("hnsw", dict(M=16)), ("hnsw", dict(M=32)),
                                         ("ivf", dict(nlist=50))])
def test_index_bytes_estimates_the_serialised_index(catalogue, kind, knobs):
    vectors, _ = catalogue
    measured = ItemIndex(vectors, kind=kind, **knobs).memory_bytes
    assert abs(index_bytes(*vectors.shape, kind, **knobs) - measured) <= 0.05 * measured


def test_full_scoring_bytes_by_hand():
    assert full_scoring_bytes(138_493, 26_744) == 138_493 * 26_744 * 4  # ml-20m, float32: 14.8 GB
    assert full_scoring_bytes(10, 1_000_000, np.float64) == 80_000_000
    assert index_bytes(1_000_000, 64) == 256_000_000


# ------------------------------------------------------------------------------ two stages
@pytest.mark.parametrize("part", ["train", "test"])
def test_two_stage_with_exact_index_and_every_item_equals_recommend(split, als, part):
    history = None if part == "train" else split.history("test")  # "test": ALS folds the new items in
    users = np.arange(split.train.n_users)
    index = ItemIndex(item_vectors(als))
    items, scores = two_stage(als, index, users, k=10, n=index.n_items, history=history)
    expected_items, expected_scores = als.recommend(users, k=10, history=history)
    np.testing.assert_array_equal(items, expected_items)
    np.testing.assert_array_equal(scores, expected_scores)
    one = two_stage(als, index, 3, k=10, n=index.n_items, history=history)
    np.testing.assert_array_equal(one[0], expected_items[3])


def test_two_stage_reranked_by_another_model_equals_its_recommend(split, als):
    ease = EASE(reg=50.0).fit(split.train)
    users = np.arange(split.train.n_users)
    items, _ = two_stage(als, ItemIndex(item_vectors(als)), users, k=10, n=split.train.n_items, ranker=ease)
    np.testing.assert_array_equal(items, ease.recommend(users, k=10)[0])


@pytest.mark.parametrize("make", [lambda: BPR(n_factors=8, n_epochs=3, seed=0),
                                  lambda: SASRec(n_factors=16, n_blocks=1, n_epochs=2, device="cpu", seed=0)],
                         ids=["BPR", "SASRec"])
def test_query_and_item_vectors_reproduce_the_model_scores(split, make):
    torch.set_num_threads(1)
    model = make().fit(split.train)
    history = split.history("test")
    users = np.arange(split.train.n_users)
    full = model.score(users, history=history)  # the reference: the model's own full scoring
    products = query_vectors(model, users, history=history) @ item_vectors(model).T
    if isinstance(model, BPR):  # BPR's score is exactly x·y + b
        np.testing.assert_allclose(products, full, rtol=1e-5, atol=1e-5)
    else:  # SASRec's: h·e for every user with a history
        np.testing.assert_allclose(products, full, rtol=1e-4, atol=1e-4)
    items, _ = two_stage(model, ItemIndex(item_vectors(model)), users, k=5, n=split.train.n_items, history=history)
    np.testing.assert_array_equal(items, model.recommend(users, k=5, history=history)[0])


def test_sasrec_ranks_an_empty_history_by_popularity(split):
    model = SASRec(n_factors=8, n_blocks=1, n_epochs=1, device="cpu", seed=0).fit(split.train)
    query = query_vectors(model, [0], history=split.train.with_ratings(split.train.ratings.iloc[:0]))
    truth = np.argsort(-model.popularity_, kind="stable")[:20]
    ids, _ = ItemIndex(item_vectors(model)).search(query, 20)
    np.testing.assert_array_equal(np.sort(ids[0]), np.sort(truth))


def test_two_stage_with_hnsw_recalls_the_full_ranking(split, als):
    users = np.arange(split.train.n_users)
    index = ItemIndex(item_vectors(als), kind="hnsw", M=8, ef_construction=40, ef_search=40)
    items, _ = two_stage(als, index, users, k=10, n=100)
    truth, _ = als.recommend(users, k=10)
    assert recall(items, truth) >= 0.95  # 100 candidates of 300 items; measured 1.00 when written
    seen = split.train.binary()[users].toarray()
    assert not seen[np.arange(len(users))[:, None], items].any()


def test_two_stage_pads_when_candidates_run_out(split, als):
    index = ItemIndex(item_vectors(als), kind="ivf", nlist=30, nprobe=1)
    users = np.arange(20)
    items, scores = two_stage(als, index, users, k=100, n=100)
    found = items >= 0
    assert (~found).any() and np.isneginf(scores[~found]).all()
    assert (found[:, :-1] >= found[:, 1:]).all()  # the padding comes last
    candidates, _ = index.search(query_vectors(als, users), 100)
    reference = als.score(users)
    for row, user in enumerate(users):  # what is kept: the candidates, by the model's full score
        kept = items[row, found[row]]
        assert np.isin(kept, candidates[row]).all()
        np.testing.assert_array_equal(scores[row, found[row]], reference[user, kept])
        assert (np.diff(scores[row, found[row]]) <= 0).all()


# ------------------------------------------------------------------------------ bad inputs
def test_bad_inputs_name_the_argument(catalogue, split, als):
    vectors, queries = catalogue
    index = ItemIndex(vectors[:100])
    cases = [
        (lambda: ItemIndex(vectors.astype(np.float64)), "vectors must be C-contiguous float32"),
        (lambda: ItemIndex(np.asfortranarray(vectors)), "not contiguous"),
        (lambda: ItemIndex(vectors, kind="lsh"), "kind='lsh'"),
        (lambda: ItemIndex(vectors[:10], kind="ivf", nlist=20), "nlist=20"),
        (lambda: ItemIndex(vectors, kind="ivf", nlist=8, nprobe=9), "nprobe=9"),
        (lambda: ItemIndex(vectors, kind="ivf", nlist=8, train_per_cell=0), "train_per_cell=0"),
        (lambda: ItemIndex(vectors, kind="hnsw", M=1), "M=1"),
        (lambda: index.search(queries[:, :8].copy(), 5), "dimension 8"),
        (lambda: index.search(queries, 101), "n=101"),
        (lambda: index.search(queries, 0), "n=0"),
        (lambda: index.search(np.full((1, 32), np.nan, np.float32), 5), "NaN"),
        (lambda: two_stage(als, ItemIndex(item_vectors(als)), [0], k=20, n=10), "k=20"),
        (lambda: two_stage(als, index, [0], n=10), "index holds 100 items"),
        (lambda: item_vectors(EASE().fit(split.train)), "model=EASE"),
        (lambda: index_bytes(10, 4, "lsh"), "kind='lsh'"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
            call()
