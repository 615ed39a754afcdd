"""EASE against a brute-force solve of its constrained least squares, planted structure, contract."""
from __future__ import annotations

import numpy as np
import pytest

from reclab import evaluate
from reclab.data import leave_last_out, make_synthetic
from reclab.models import EASE, Popularity


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
