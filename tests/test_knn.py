"""UserKNN / ItemKNN: similarities and scores against brute-force loops, scores from a history, planted
structure, contract."""
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


# ------------------------------------------------------------------ scores from a history
def with_events(data: Interactions, events) -> Interactions:
    """``data`` plus (user, item, rating) rows, later than every row of it: a history on its ids."""
    t = int(data.ratings["timestamp"].max()) + 1
    extra = pd.DataFrame({"user": np.array([e[0] for e in events], np.int32),
                          "item": np.array([e[1] for e in events], np.int32),
                          "rating": np.array([e[2] for e in events], np.float32),
                          "timestamp": np.arange(t, t + len(events), dtype=np.int64)})
    return data.with_ratings(pd.concat([data.ratings, extra], ignore_index=True), name="history")


def dense_rows(data: Interactions, feedback: str) -> np.ndarray:
    """(n_users, n_items) by a loop over the rows: the latest rating of a pair, or 1 (binary)."""
    X = np.zeros((data.n_users, data.n_items))
    latest = {}
    for pos, (u, i, r, t) in enumerate(data.ratings[["user", "item", "rating", "timestamp"]].itertuples(index=False)):
        if (u, i) not in latest or (t, pos) >= latest[(u, i)][:2]:
            latest[(u, i)] = (t, pos, r)
    for (u, i), (_, _, r) in latest.items():
        X[u, i] = 1.0 if feedback == "binary" else r
    return X


def unrated(X: np.ndarray, user: int, n: int = 2) -> list[int]:
    return [int(i) for i in np.flatnonzero(X[user] == 0)[:n]]


@pytest.mark.parametrize("kind, feedback", [("cosine", "binary"), ("jaccard", "binary"), ("pearson", "rating")])
@pytest.mark.parametrize("normalize", [False, True])
def test_item_knn_scores_the_history_rows_with_the_train_similarities(rated, kind, feedback, normalize):
    model = ItemKNN(k_neighbours=4, similarity=kind, shrink=2.0, feedback=feedback, normalize=normalize).fit(rated)
    X = dense_rows(rated, feedback)
    S = brute_similarity(X, kind, shrink=2.0, k=4)  # learned from train only
    new = unrated(X, 3)
    history = with_events(rated, [(3, new[0], 5.0), (3, new[1], 2.0), (7, unrated(X, 7)[0], 4.0)])
    H = dense_rows(history, feedback)
    users = np.arange(rated.n_users)
    np.testing.assert_allclose(model.score(users, history=history), brute_scores(H, S, normalize), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.score(users), brute_scores(X, S, normalize), rtol=1e-4, atol=1e-5)


def test_item_knn_one_new_event_adds_the_items_similarity_column(rated):
    model = ItemKNN(k_neighbours=5, similarity="cosine").fit(rated)
    X = rated.to_csr("binary").toarray()
    S = brute_similarity(X, "cosine", k=5)
    j = unrated(X, 2)[0]
    before, after = model.score(2)[0], model.score(2, history=with_events(rated, [(2, j, 4.0)]))[0]
    np.testing.assert_allclose(after - before, S[:, j], rtol=1e-4, atol=1e-5)  # score(i) += sim(i, j)
    assert j not in model.recommend(2, k=5, history=with_events(rated, [(2, j, 4.0)]))[0]  # the new item is masked
    other = model.score(np.arange(3, 9), history=with_events(rated, [(2, j, 4.0)]))
    np.testing.assert_array_equal(other, model.score(np.arange(3, 9)))


def brute_history_neighbours(X: np.ndarray, h: np.ndarray, user: int, kind: str, shrink: float, k: int) -> np.ndarray:
    """sim(history row h of ``user``, training row of v) for every v != user, pruned to the k largest."""
    others = [v for v in range(X.shape[0]) if v != user]
    R = np.vstack([X[others], h]).T  # items x (others + the history row): users are the columns
    row = brute_similarity(R, kind, shrink=shrink, k=k)[-1, :-1]  # the history row against the others
    out = np.zeros(X.shape[0])
    out[others] = row
    return out


@pytest.mark.parametrize("kind, feedback", [("cosine", "binary"), ("jaccard", "binary"), ("pearson", "rating")])
@pytest.mark.parametrize("normalize", [False, True])
def test_user_knn_compares_the_history_row_with_the_training_users(rated, kind, feedback, normalize):
    model = UserKNN(k_neighbours=5, similarity=kind, shrink=1.0, feedback=feedback, normalize=normalize).fit(rated)
    X = dense_rows(rated, feedback)
    new = unrated(X, 4, 3)
    history = with_events(rated, [(4, new[0], 5.0), (4, new[1], 1.0), (4, new[2], 3.0), (4, new[0], 2.0)])
    H = dense_rows(history, feedback)  # user 4's repeated pair: the latest rating, 2.0
    S = brute_similarity(X.T, kind, shrink=1.0, k=5)  # the learned user x user similarities
    S[4] = brute_history_neighbours(X, H[4], 4, kind, 1.0, 5)  # user 4: history row vs training rows
    want = brute_scores(X.T, S, normalize).T  # neighbours' rows from train: score[u] = Σ_v S[u, v] x_v
    got = model.score(np.arange(rated.n_users), history=history)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    before = model.score(np.arange(rated.n_users))
    np.testing.assert_array_equal(np.delete(got, 4, axis=0), np.delete(before, 4, axis=0))  # the others: as in train


def test_user_knn_one_new_event_changes_the_neighbours(rated):
    model = UserKNN(k_neighbours=3, similarity="cosine", shrink=0.0).fit(rated)
    X = rated.to_csr("binary").toarray()
    for j in unrated(X, 0, 4):
        history = with_events(rated, [(0, j, 5.0)])
        h = X[0].copy()
        h[j] = 1.0
        neighbours = brute_history_neighbours(X, h, 0, "cosine", 0.0, 3)
        np.testing.assert_allclose(model.score(0, history=history)[0], neighbours @ X, rtol=1e-4, atol=1e-5)
        assert j not in model.recommend(0, k=5, history=history)[0]


def test_user_knn_history_scoring_survives_save_load_and_refit(rated, tmp_path):
    model = UserKNN(k_neighbours=4, similarity="jaccard").fit(rated)
    history = with_events(rated, [(1, unrated(rated.to_csr("binary").toarray(), 1)[0], 4.0)])
    want = model.score(np.arange(rated.n_users), history=history)
    again = UserKNN.load(model.save(tmp_path / "u.npz"))
    np.testing.assert_array_equal(again.score(np.arange(rated.n_users), history=history), want)
    # a refit on other data forgets the first fit's training users
    half = rated.with_ratings(rated.ratings.iloc[::2])
    refit = model.fit(half).score(np.arange(rated.n_users), history=history)
    fresh = UserKNN(k_neighbours=4, similarity="jaccard").fit(half).score(np.arange(rated.n_users), history=history)
    np.testing.assert_array_equal(refit, fresh)


def test_one_fit_serves_valid_and_test(synthetic):
    data, split = synthetic
    for model in (ItemKNN().fit(split.train), UserKNN().fit(split.train)):
        known = split.history("test").to_csr("binary")
        users = np.arange(data.n_users)
        items, _ = model.recommend(users, k=10, history=split.history("test"))
        assert not any(set(items[u]) & set(known[u].indices) for u in users)  # train + valid masked
        valid = evaluate(model, split, 10, part="valid", metrics=("NDCG",))
        test = evaluate(model, split, 10, part="test", metrics=("NDCG",))
        assert 0 < valid["value"].iloc[0] <= 1 and 0 < test["value"].iloc[0] <= 1
        assert valid["lo"].iloc[0] <= valid["value"].iloc[0] <= valid["hi"].iloc[0]


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
    np.testing.assert_array_equal(again.X_.toarray(), split.train.to_csr("rating").toarray())  # rebuilt from train_


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"similarity": "euclid"}, r"similarity='euclid' is not valid: it must be one of 'cosine', 'jaccard'"),
        ({"k_neighbours": 0}, r"k_neighbours=0 is not valid: it must be an int >= 1, or None"),
        ({"k_neighbours": -5}, r"k_neighbours=-5 is not valid"),
        ({"k_neighbours": 2.5}, r"k_neighbours=2.5 is not valid: it must be an int"),
        ({"shrink": -1.0}, r"shrink=-1.0 is not valid: it must be a finite number >= 0"),
        ({"feedback": "clicks"}, r"feedback='clicks' is not valid: it must be one of 'binary', 'rating'"),
        ({"normalize": "yes"}, r"normalize='yes' is not valid: it must be True or False"),
        ({"similarity": "pearson"}, r"similarity='pearson' needs feedback='rating'"),
    ],
)
def test_bad_options_name_the_value(tiny, cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs).fit(tiny.train)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_numpy_numbers_are_accepted(rated, cls):
    numpy_args = cls(k_neighbours=np.int64(4), shrink=np.float32(2.0), normalize=np.bool_(True)).fit(rated)
    plain = cls(k_neighbours=4, shrink=2.0, normalize=True).fit(rated)
    np.testing.assert_allclose(numpy_args.score(np.arange(rated.n_users)), plain.score(np.arange(rated.n_users)))


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


@pytest.mark.parametrize("kind, k", [("jaccard", None), ("cosine", 4)])
def test_item_knn_similar_items_are_its_own_neighbours(rated, kind, k):
    """similar_items reads the learned S itself (first order), not the cosine of S's rows."""
    X = rated.to_csr("binary").toarray()
    S = brute_similarity(X, kind, k=k)
    items, sims = ItemKNN(k_neighbours=k, similarity=kind).fit(rated).similar_items(np.arange(rated.n_items), k=3)
    for i in range(rated.n_items):
        want = [j for j in np.argsort(-S[i], kind="stable") if j != i][:3]
        np.testing.assert_allclose(sims[i], S[i, want], rtol=1e-5, atol=1e-6)  # same values, best first
        assert set(items[i][sims[i] > 0]) <= set(np.flatnonzero(S[i] > 0))
