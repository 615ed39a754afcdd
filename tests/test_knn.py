"""UserKNN / ItemKNN: similarities and scores against brute-force loops, planted structure, contract."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import ItemKNN, Popularity, UserKNN
from reclab.models.knn import column_similarity


def random_ratings(n_rows=9, n_cols=7, density=0.45, seed=0) -> np.ndarray:
    """Dense (n_rows, n_cols) matrix of 1-5 stars, 0 where unobserved."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random((n_rows, n_cols)) < density, rng.integers(1, 6, (n_rows, n_cols)), 0).astype(float)


def brute_similarity(R: np.ndarray, kind: str, shrink: float = 0.0, k: int | None = None) -> np.ndarray:
    """The definitions of `column_similarity`, one pair of columns at a time."""
    n = R.shape[1]
    S = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            ra, rb = set(np.flatnonzero(R[:, a])), set(np.flatnonzero(R[:, b]))
            shared = sorted(ra & rb)
            if kind == "cosine":
                den = np.sqrt(sum(R[u, a] ** 2 for u in ra) * sum(R[u, b] ** 2 for u in rb))
                s = sum(R[u, a] * R[u, b] for u in shared) / den if den else 0.0
            elif kind == "jaccard":
                s = len(shared) / len(ra | rb) if ra | rb else 0.0
            else:
                ma = np.mean([R[u, a] for u in ra]) if ra else 0.0
                mb = np.mean([R[u, b] for u in rb]) if rb else 0.0
                num = sum((R[u, a] - ma) * (R[u, b] - mb) for u in shared)
                den = np.sqrt(sum((R[u, a] - ma) ** 2 for u in shared) * sum((R[u, b] - mb) ** 2 for u in shared))
                s = num / den if den else 0.0
            S[a, b] = s * len(shared) / (len(shared) + shrink) if shrink else s
    if k is not None:
        for a in range(n):
            order = sorted((b for b in range(n) if b != a), key=lambda b: (-S[a, b], b))
            S[a, order[k:]] = 0.0
    return S


@pytest.mark.parametrize("kind", ["cosine", "jaccard", "pearson"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_similarity_matches_brute_force(kind, seed):
    R = random_ratings(seed=seed)
    got = column_similarity(sp.csr_matrix(R), kind).toarray()
    np.testing.assert_allclose(got, brute_similarity(R, kind), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["cosine", "jaccard", "pearson"])
def test_shrinkage_matches_brute_force(kind):
    R = random_ratings(12, 8, seed=3)
    got = column_similarity(sp.csr_matrix(R), kind, shrink=4.0).toarray()
    np.testing.assert_allclose(got, brute_similarity(R, kind, shrink=4.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["cosine", "jaccard", "pearson"])
@pytest.mark.parametrize("k", [1, 3])
def test_top_k_pruning_matches_brute_force(kind, k):
    R = random_ratings(12, 8, seed=4)
    S = column_similarity(sp.csr_matrix(R), kind, shrink=1.0, k_neighbours=k)
    np.testing.assert_allclose(S.toarray(), brute_similarity(R, kind, shrink=1.0, k=k), rtol=1e-5, atol=1e-6)
    assert np.diff(S.indptr).max() <= k


def test_pruning_is_blockwise_consistent(monkeypatch):
    """Small blocks (the path large catalogues take) give the same matrix as one block."""
    R = random_ratings(15, 11, seed=5)
    whole = column_similarity(sp.csr_matrix(R), "cosine", shrink=2.0, k_neighbours=3).toarray()
    monkeypatch.setattr("reclab.models.knn._BLOCK_CELLS", 11 * 2)  # two rows per block
    np.testing.assert_array_equal(column_similarity(sp.csr_matrix(R), "cosine", shrink=2.0, k_neighbours=3).toarray(), whole)


@pytest.fixture(scope="module")
def tiny():
    return leave_last_out(make_synthetic(n_users=25, n_items=12, n_clusters=2, length=(4, 8), seed=7))


@pytest.fixture(scope="module")
def rated():
    """Random 1-5 star ratings (20 users, 12 items): varied values, so a weighted average shows."""
    R = random_ratings(20, 12, density=0.4, seed=8)
    u, i = np.nonzero(R)
    frame = pd.DataFrame({"user_id": u, "item_id": i, "rating": R[u, i], "timestamp": np.arange(len(u))})
    return Interactions.from_frames(frame)


def brute_scores(X: np.ndarray, S: np.ndarray, normalize: bool) -> np.ndarray:
    """score[u, i] = Σ_j S[i, j] x_uj, or that sum over Σ |S[i, j]| for the j the user has."""
    want = np.zeros(X.shape)
    for u in range(X.shape[0]):
        for i in range(X.shape[1]):
            total = sum(S[i, j] * X[u, j] for j in range(X.shape[1]))
            weight = sum(abs(S[i, j]) for j in range(X.shape[1]) if X[u, j])
            want[u, i] = (total / weight if weight else 0.0) if normalize else total
    return want


@pytest.mark.parametrize("kind, feedback", [("cosine", "binary"), ("cosine", "rating"), ("pearson", "rating")])
@pytest.mark.parametrize("normalize", [False, True])
def test_item_knn_scores_match_brute_force(rated, kind, feedback, normalize):
    model = ItemKNN(k_neighbours=4, similarity=kind, shrink=2.0, feedback=feedback, normalize=normalize).fit(rated)
    X = rated.to_csr(feedback).toarray()
    want = brute_scores(X, brute_similarity(X, kind, shrink=2.0, k=4), normalize)  # S: item x item
    np.testing.assert_allclose(model.score(np.arange(rated.n_users)), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind, feedback", [("jaccard", "binary"), ("cosine", "rating"), ("pearson", "rating")])
@pytest.mark.parametrize("normalize", [False, True])
def test_user_knn_scores_match_brute_force(rated, kind, feedback, normalize):
    model = UserKNN(k_neighbours=5, similarity=kind, shrink=1.0, feedback=feedback, normalize=normalize).fit(rated)
    X = rated.to_csr(feedback).toarray()
    S = brute_similarity(X.T, kind, shrink=1.0, k=5)  # user x user
    # user-based is item-based on the transpose: score[u, i] = Σ_v S[u, v] x_vi
    want = brute_scores(X.T, S, normalize).T
    np.testing.assert_allclose(model.score(np.arange(rated.n_users)), want, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ planted structure and contract
@pytest.fixture(scope="module")
def synthetic():
    data = make_synthetic(n_users=200, n_items=80, n_clusters=4, seed=3)
    return data, leave_last_out(data)


def ndcg(model, split):
    return evaluate(model, split, 10, metrics=("NDCG",)).value.iloc[0]


@pytest.mark.parametrize("model", [ItemKNN(), UserKNN(), ItemKNN(similarity="jaccard", k_neighbours=None),
                                   UserKNN(similarity="pearson", feedback="rating", shrink=5.0)])
def test_recovers_planted_clusters(synthetic, model):
    data, split = synthetic
    popular = ndcg(Popularity().fit(split.train), split)
    assert ndcg(model.fit(split.train), split) > popular + 0.05


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_similar_items_share_the_cluster(synthetic, cls):
    data, split = synthetic
    items, _ = cls().fit(split.train).similar_items(np.arange(data.n_items), k=5)
    cluster = data.items["cluster"].to_numpy()
    assert (cluster[items] == cluster[:, None]).mean() > 0.9


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_contract_shapes_exclude_seen_and_save_load(synthetic, cls, tmp_path):
    data, split = synthetic
    model = cls(feedback="rating").fit(split.train)
    assert model.score([0, 1, 2]).shape == (3, data.n_items)
    items, scores = model.recommend(np.arange(20), k=10)
    assert items.shape == scores.shape == (20, 10)
    seen = split.train.to_csr("binary")
    assert all(not set(items[u]) & set(seen[u].indices) for u in range(20))
    again = cls.load(model.save(tmp_path / "knn.npz"))
    assert again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.recommend(np.arange(20), k=10)[0], items)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"similarity": "euclid"}, r"similarity='euclid' is not supported"),
        ({"k_neighbours": 0}, r"k_neighbours=0 must be a positive int"),
        ({"k_neighbours": -5}, r"k_neighbours=-5 must be a positive int"),
        ({"shrink": -1.0}, r"shrink=-1.0 must be a number >= 0"),
        ({"feedback": "clicks"}, r"feedback='clicks' is not supported"),
        ({"similarity": "pearson"}, r"similarity='pearson' needs feedback='rating'"),
    ],
)
def test_bad_options_name_the_value(tiny, cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs).fit(tiny.train)


# ------------------------------------------------------------------ notebook 03's exercises
def test_notebook_exercises_accept_independent_answers_and_flag_stubs(rated):
    import reclab.exercises.neighbourhood  # noqa: F401  (registers the 03 exercises)
    from reclab.exercises import EXERCISES

    X = rated.to_csr("rating").toarray()
    B = (X > 0).astype(float)
    a, b = 0, 1
    user = int(np.argmin(B.sum(axis=1)))  # the lightest user: enough unseen items for a top 5
    ua, ub = set(np.flatnonzero(B[:, a])), set(np.flatnonzero(B[:, b]))
    both = sorted(ua & ub)
    x = X[both, a] - X[X[:, a] > 0, a].mean()
    y = X[both, b] - X[X[:, b] > 0, b].mean()
    pearson = (x @ y) / np.sqrt((x @ x) * (y @ y)) * len(both) / (len(both) + 10)
    cos = (B.T @ B) / np.outer(np.linalg.norm(B, axis=0), np.linalg.norm(B, axis=0))
    np.fill_diagonal(cos, 0)
    scores = B[user] @ cos
    scores[B[user] > 0] = -np.inf
    unit = B / np.linalg.norm(B, axis=1, keepdims=True)
    users = unit @ unit[user]
    users[user] = -np.inf
    answers = {
        "03-jaccard-pair": (len(both) / len(ua | ub), (rated, a, b)),
        "03-shrunk-pearson": (pearson, (rated, a, b)),
        "03-recommend-by-hand": (np.argsort(-scores, kind="stable")[:5], (rated, user)),
        "03-nearest-users": (np.argsort(-users, kind="stable")[:5][::-1], (rated, user)),  # any order
    }
    for name, (answer, inputs) in answers.items():
        assert EXERCISES[name].evaluate(answer, *inputs).status == "correct", name
        assert EXERCISES[name].evaluate(..., *inputs).status == "not attempted", name
    assert EXERCISES["03-jaccard-pair"].evaluate(0.123, rated, a, b).status == "wrong"
