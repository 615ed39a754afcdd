"""EASE against a brute-force solve of its constrained least squares, scores from a history, planted
structure, contract."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reclab import evaluate
from reclab.data import leave_last_out, make_synthetic
from reclab.models import DPEASE, EASE, Popularity


@pytest.fixture(scope="module")
def tiny():
    return leave_last_out(make_synthetic(n_users=30, n_items=10, n_clusters=2, length=(3, 7), seed=11))


def brute_force_ease(X: np.ndarray, reg: float) -> np.ndarray:
    """Column by column: item j regressed on every *other* item, ridge penalty ``reg``.

    With diag(B) = 0 the objective ||X − XB||² + reg ||B||² splits into one ridge regression per
    column j over the remaining items, so each column is an ordinary solve.
    """
    n = X.shape[1]
    B = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        A = X[:, others]
        B[others, j] = np.linalg.solve(A.T @ A + reg * np.eye(n - 1), A.T @ X[:, j])
    return B


@pytest.mark.parametrize("reg", [0.5, 5.0, 100.0])
def test_matches_per_column_least_squares(tiny, reg):
    model = EASE(reg=reg).fit(tiny.train)
    X = tiny.train.to_csr("binary").toarray().astype(float)
    np.testing.assert_allclose(model.B_, brute_force_ease(X, reg), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.score(np.arange(X.shape[0])), X @ brute_force_ease(X, reg), rtol=1e-4, atol=1e-5)


def test_diagonal_is_zero_and_objective_is_minimal(tiny):
    reg = 3.0
    B = EASE(reg=reg).fit(tiny.train).B_.astype(float)
    assert np.all(np.diag(B) == 0)
    X = tiny.train.to_csr("binary").toarray().astype(float)
    loss = lambda W: np.sum((X - X @ W) ** 2) + reg * np.sum(W**2)  # noqa: E731
    rng = np.random.default_rng(0)
    for _ in range(20):  # any feasible step (zero diagonal) makes the objective worse
        step = rng.normal(size=B.shape) * 1e-3
        np.fill_diagonal(step, 0)
        assert loss(B + step) > loss(B)


def test_recovers_planted_clusters():
    data = make_synthetic(n_users=200, n_items=80, n_clusters=4, seed=3)
    split = leave_last_out(data)
    ndcg = lambda m: evaluate(m.fit(split.train), split, 10, metrics=("NDCG",)).value.iloc[0]  # noqa: E731
    assert ndcg(EASE(reg=10.0)) > ndcg(Popularity()) + 0.05
    items, _ = EASE(reg=10.0).fit(split.train).similar_items(np.arange(data.n_items), k=5)
    cluster = data.items["cluster"].to_numpy()
    assert (cluster[items] == cluster[:, None]).mean() > 0.9


def test_contract_shapes_exclude_seen_and_save_load(tiny, tmp_path):
    model = EASE(reg=2.0).fit(tiny.train)
    n_users, n_items = tiny.train.n_users, tiny.train.n_items
    assert model.score([0, 1]).shape == (2, n_items)
    items, scores = model.recommend(np.arange(n_users), k=3)
    assert items.shape == scores.shape == (n_users, 3)
    seen = tiny.train.to_csr("binary")
    assert all(not set(items[u]) & set(seen[u].indices) for u in range(n_users))
    again = EASE.load(model.save(tmp_path / "ease.npz"))
    assert again.reg == 2.0
    np.testing.assert_array_equal(again.recommend(np.arange(n_users), k=3)[0], items)
    np.testing.assert_array_equal(again.B_, model.B_)


@pytest.mark.parametrize("reg", [0, -1.0, "big", True])
def test_bad_reg_names_the_value(tiny, reg):
    with pytest.raises(ValueError, match=rf"reg={reg!r} is not valid: it must be a finite number > 0"):
        EASE(reg=reg).fit(tiny.train)


# ------------------------------------------------------------------ scores from a history
def test_scores_the_history_rows_with_the_train_weights(tiny):
    """One fit; score(history=H) is H's binary rows times the B learned from train."""
    model = EASE(reg=5.0).fit(tiny.train, valid=tiny.valid)
    X = tiny.train.to_csr("binary").toarray().astype(float)
    B = brute_force_ease(X, 5.0)  # from train alone: valid never enters B
    H = X.copy()
    H[tiny.valid.ratings["user"], tiny.valid.ratings["item"]] = 1.0  # train + valid by hand, from the rows
    users = np.arange(X.shape[0])
    np.testing.assert_allclose(model.score(users, history=tiny.history("test")), H @ B, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.score(users), X @ B, rtol=1e-4, atol=1e-5)
    items, _ = model.recommend(users, k=3, history=tiny.history("test"))
    assert not (H[users[:, None], items] == 1).any()  # train + valid masked


def test_one_new_event_adds_the_items_row_of_b(tiny):
    model = EASE(reg=5.0).fit(tiny.train)
    B = brute_force_ease(tiny.train.to_csr("binary").toarray().astype(float), 5.0)
    user, item = 0, int(np.flatnonzero(tiny.train.to_csr("binary")[0].toarray().ravel() == 0)[0])
    later = int(tiny.train.ratings["timestamp"].max()) + 1
    event = pd.DataFrame({"user": np.int32([user]), "item": np.int32([item]), "rating": np.float32([3.0]),
                          "timestamp": np.int64([later])})
    history = tiny.train.with_ratings(pd.concat([tiny.train.ratings, event], ignore_index=True))
    change = model.score(user, history=history)[0] - model.score(user)[0]
    np.testing.assert_allclose(change, B[item], rtol=1e-4, atol=1e-5)  # the user's row gains x_item = 1


def test_one_fit_evaluates_valid_and_test(tiny):
    model = EASE(reg=5.0).fit(tiny.train)
    valid = evaluate(model, tiny, 5, part="valid", metrics=("HR",))["value"].iloc[0]
    X = tiny.train.to_csr("binary").toarray().astype(float)
    scores = X @ brute_force_ease(X, 5.0)
    scores[X > 0] = -np.inf  # the history of the validation item: train
    # users whose validation item is a repeat of a train item are not evaluated (it is masked)
    hits = [int(i) in np.argsort(-scores[u], kind="stable")[:5] for u, i in
            zip(tiny.valid.ratings["user"], tiny.valid.ratings["item"]) if X[u, i] == 0]
    assert len(hits) > 5 and valid == pytest.approx(np.mean(hits))


def test_similar_items_are_the_items_each_item_raises_most(tiny):
    """EASE's similar_items: the largest entries of the item's row of B (brute force), itself excluded."""
    X = tiny.train.to_csr("binary").toarray()
    B = brute_force_ease(X, 2.0)
    items, sims = EASE(reg=2.0).fit(tiny.train).similar_items(np.arange(tiny.train.n_items), k=3)
    for i in range(tiny.train.n_items):
        row = np.where(np.arange(len(B)) == i, -np.inf, B[i])
        np.testing.assert_allclose(sims[i], np.sort(row)[::-1][:3], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ DPEASE
def test_dpease_without_noise_or_cap_is_ease(tiny):
    np.testing.assert_array_equal(DPEASE(epsilon=None, max_items=None, reg=2.0).fit(tiny.train).B_,
                                  EASE(reg=2.0).fit(tiny.train).B_)


def test_dpease_cap_keeps_each_users_latest_items(tiny):
    r = tiny.train.ratings.sort_values(["user", "timestamp"], kind="stable")
    latest = r.drop_duplicates(["user", "item"], keep="last").groupby("user").tail(3)  # 3 latest distinct items
    want = brute_force_ease(tiny.train.with_ratings(latest).to_csr("binary").toarray(), 2.0)
    np.testing.assert_allclose(DPEASE(epsilon=None, max_items=3, reg=2.0).fit(tiny.train).B_, want, atol=1e-5)


def test_dpease_noise_follows_epsilon_and_the_seed(tiny):
    plain = DPEASE(epsilon=None, max_items=4, reg=5.0).fit(tiny.train).B_
    gaps = [np.abs(DPEASE(epsilon=e, max_items=4, reg=5.0).fit(tiny.train).B_ - plain).mean() for e in (0.5, 50.0, 1e6)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-4
    model = DPEASE(epsilon=2.0, max_items=4, reg=5.0, seed=3).fit(tiny.train)
    assert model.noise_scale_ == pytest.approx(4 * 5 / 2 / 2.0)  # m(m + 1) / (2 epsilon)
    np.testing.assert_array_equal(model.B_, DPEASE(epsilon=2.0, max_items=4, reg=5.0, seed=3).fit(tiny.train).B_)
    assert not np.array_equal(model.B_, DPEASE(epsilon=2.0, max_items=4, reg=5.0, seed=4).fit(tiny.train).B_)


@pytest.mark.parametrize("kwargs, message", [(dict(epsilon=0.0), "epsilon=0.0"),
                                             (dict(epsilon=1.0, max_items=None), "needs max_items")])
def test_dpease_bad_settings_are_named(tiny, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DPEASE(**kwargs).fit(tiny.train)
