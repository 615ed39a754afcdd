"""Matrix factorisation: losses and updates against hand computations, ALS against naive solves,
planted structure recovered, and the recommender contract."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import ALS, BPR, FunkSVD, Popularity
from reclab.models._sampling import sample_negatives
from reclab.models.base import changed_users
from reclab.models import mf
from reclab.models.mf import BPRNet, FunkSVDNet, als_objective, als_solve
from reclab.plots_mf import plot_item_embeddings, project

torch.set_num_threads(1)

FAST = {
    "FunkSVD": dict(n_factors=8, n_epochs=5, batch_size=256),
    "BPR": dict(n_factors=16, n_epochs=20, lr=0.01, batch_size=256),
    "ALS": dict(n_factors=16, n_epochs=5, reg=1.0, alpha=10.0),
}
MODELS = {"FunkSVD": FunkSVD, "BPR": BPR, "ALS": ALS}


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=200, n_items=80, seed=0))


@pytest.fixture(scope="module")
def fitted(split):
    return {name: cls(**FAST[name]).fit(split.train, valid=split.valid) for name, cls in MODELS.items()}


def frame(users, items, ratings) -> Interactions:
    n = len(users)
    return Interactions.from_frames(pd.DataFrame(
        {"user_id": users, "item_id": items, "rating": ratings, "timestamp": np.arange(n)}))


# ------------------------------------------------------------------------------ FunkSVD
def test_funksvd_loss_on_a_worked_example():
    net = FunkSVDNet(1, 1, 2, global_mean=3.0, reg=0.1)
    with torch.no_grad():
        net.user_factors.copy_(torch.tensor([[1.0, 0.0]]))
        net.item_factors.copy_(torch.tensor([[0.5, 0.5]]))
        net.user_bias.fill_(0.1)
        net.item_bias.fill_(-0.2)
    zero = torch.tensor([0])
    # prediction 3 + 0.1 − 0.2 + 0.5 = 3.4, error 0.6;
    # loss ½·0.36 + ½·0.1·(1 + 0.5 + 0.01 + 0.04) = 0.18 + 0.0775
    assert net(zero, zero).item() == pytest.approx(3.4)
    assert net.loss({"user": zero, "item": zero, "rating": torch.tensor([4.0])}).item() == pytest.approx(0.2575)


def funk_sgd_step(mu, P, Q, bu, bi, triples, lr, reg):
    """Koren et al. (2009)'s update for each rating, gradients of a batch summed (numpy, by hand)."""
    gP, gQ, gbu, gbi = np.zeros_like(P), np.zeros_like(Q), np.zeros_like(bu), np.zeros_like(bi)
    for u, i, r in triples:
        e = r - (mu + bu[u] + bi[i] + P[u] @ Q[i])
        gP[u] += e * Q[i] - reg * P[u]
        gQ[i] += e * P[u] - reg * Q[i]
        gbu[u] += e - reg * bu[u]
        gbi[i] += e - reg * bi[i]
    return P + lr * gP, Q + lr * gQ, bu + lr * gbu, bi + lr * gbi


def test_funksvd_one_full_batch_sgd_step_is_the_hand_update():
    data = frame([0, 0, 1, 1], [0, 1, 0, 1], [5.0, 3.0, 4.0, 1.0])
    seed, lr, reg = 3, 0.05, 0.1
    start = FunkSVDNet(2, 2, 3, 3.25, 0.1, torch.Generator().manual_seed(seed))  # the model's initial state
    P, Q = start.user_factors.detach().double().numpy(), start.item_factors.detach().double().numpy()
    triples = list(zip([0, 0, 1, 1], [0, 1, 0, 1], [5.0, 3.0, 4.0, 1.0]))
    want = funk_sgd_step(3.25, P, Q, np.zeros(2), np.zeros(2), triples, lr, reg)
    model = FunkSVD(n_factors=3, n_epochs=1, lr=lr, reg=reg, batch_size=4, optimizer="sgd", seed=seed).fit(data)
    got = (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_funksvd_recovers_a_low_rank_matrix():
    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(60, 2)), rng.normal(size=(50, 2))
    full = 3.0 + 0.8 * U @ V.T  # rank 2 around a mean of 3
    users, items = np.meshgrid(np.arange(60), np.arange(50), indexing="ij")
    users, items, ratings = users.ravel(), items.ravel(), full.ravel()
    held = rng.random(len(ratings)) < 0.2
    train = frame(users[~held], items[~held], ratings[~held])
    model = FunkSVD(n_factors=4, n_epochs=30, lr=0.02, reg=0.01, batch_size=256, seed=0).fit(train)
    rmse = np.sqrt(np.mean((model.predict(users[held], items[held]) - ratings[held]) ** 2))
    baseline = np.sqrt(np.mean((ratings[~held].mean() - ratings[held]) ** 2))
    assert rmse < 0.25 * baseline, (rmse, baseline)
    assert model.rmse_["train"][-1] < model.rmse_["train"][0]


def test_funksvd_score_is_the_predicted_rating_and_rmse_history(fitted, split):
    model = fitted["FunkSVD"]
    users = np.array([0, 0, 5])
    items = np.array([1, 7, 3])
    np.testing.assert_allclose(model.score(users)[np.arange(3), items], model.predict(users, items), rtol=1e-5)
    assert len(model.rmse_["train"]) == len(model.rmse_["valid"]) == FAST["FunkSVD"]["n_epochs"]
    r = split.valid.ratings
    direct = np.sqrt(np.mean((model.predict(r["user"], r["item"]) - r["rating"].to_numpy()) ** 2))
    # the model keeps the epoch with the lowest validation RMSE
    assert min(model.rmse_["valid"]) == pytest.approx(direct, rel=1e-4)
    assert model.history_.best_epoch == 1 + int(np.argmin(model.rmse_["valid"]))


# ------------------------------------------------------------------------------ BPR
def test_bpr_loss_matches_the_numpy_formula():
    rng = np.random.default_rng(1)
    P, Q, b = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=5)
    u, i, j = np.array([0, 1, 2, 2]), np.array([1, 0, 4, 4]), np.array([3, 2, 0, 1])
    reg = 0.3
    x = (P[u] * Q[i]).sum(1) + b[i] - (P[u] * Q[j]).sum(1) - b[j]
    norms = (P[u] ** 2).sum(1) + (Q[i] ** 2).sum(1) + (Q[j] ** 2).sum(1) + b[i] ** 2 + b[j] ** 2
    want = np.sum(np.log1p(np.exp(-x)) + 0.5 * reg * norms)  # −ln σ(x) = ln(1 + e^−x)
    net = BPRNet(3, 5, 4, reg=reg).double()
    with torch.no_grad():
        net.user_factors.copy_(torch.tensor(P))
        net.item_factors.copy_(torch.tensor(Q))
        net.item_bias.copy_(torch.tensor(b))
    got = net.loss({"user": torch.tensor(u), "pos": torch.tensor(i), "neg": torch.tensor(j)}).item()
    assert got == pytest.approx(want, rel=1e-10)


def test_negatives_are_never_seen_items():
    seen = sp.csr_matrix(np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 1]], dtype=np.float32))
    users = np.array([0] * 500 + [1] * 500)
    neg = sample_negatives(seen, users, np.random.default_rng(0))
    assert set(neg[:500]) == {3, 4} and set(neg[500:]) == {0, 1, 2, 3}


def test_bpr_without_item_bias_keeps_it_zero(split):
    model = BPR(n_factors=4, n_epochs=1, item_bias=False).fit(split.train)
    assert not model.item_bias_.any()


# ------------------------------------------------------------------------------ ALS
def naive_als_rows(Y, R, alpha, reg):
    """Hu et al. (2008), eq. 4, one row at a time with a dense C_u (numpy, float64)."""
    X = np.zeros((R.shape[0], Y.shape[1]))
    for u in range(R.shape[0]):
        r = R[u]
        C = np.diag(1 + alpha * r)
        p = (r > 0).astype(float)
        X[u] = np.linalg.solve(Y.T @ C @ Y + reg * np.eye(Y.shape[1]), Y.T @ C @ p)
    return X


def naive_objective(X, Y, R, alpha, reg):
    C, P = 1 + alpha * R, (R > 0).astype(float)
    return np.sum(C * (P - X @ Y.T) ** 2) + reg * (np.sum(X**2) + np.sum(Y**2))


@pytest.fixture
def tiny():
    rng = np.random.default_rng(4)
    R = np.where(rng.random((7, 9)) < 0.35, rng.integers(1, 6, size=(7, 9)), 0).astype(float)
    R[3] = 0  # a user with no interactions
    return R


@pytest.mark.parametrize("block", [1, 5, 1 << 12])
def test_als_half_steps_equal_the_naive_closed_form(tiny, block):
    rng = np.random.default_rng(5)
    Y = rng.normal(size=(9, 3))
    X = als_solve(Y, sp.csr_matrix(tiny), alpha=2.0, reg=0.5, block=block)
    np.testing.assert_allclose(X, naive_als_rows(Y, tiny, 2.0, 0.5), rtol=1e-10, atol=1e-12)
    Y2 = als_solve(X, sp.csr_matrix(tiny.T), alpha=2.0, reg=0.5, block=block)
    np.testing.assert_allclose(Y2, naive_als_rows(X, tiny.T, 2.0, 0.5), rtol=1e-10, atol=1e-12)


def test_als_objective_decreases_at_every_half_step(tiny):
    R = sp.csr_matrix(tiny)
    Y = np.random.default_rng(6).normal(size=(9, 3))
    X = np.zeros((7, 3))
    history = []
    for _ in range(6):
        X = als_solve(Y, R, 3.0, 0.2)
        history.append(naive_objective(X, Y, tiny, 3.0, 0.2))
        Y = als_solve(X, R.T.tocsr(), 3.0, 0.2)
        history.append(naive_objective(X, Y, tiny, 3.0, 0.2))
    assert np.all(np.diff(history) <= 1e-9 * history[0])
    assert als_objective(X, Y, R, 3.0, 0.2) == pytest.approx(history[-1], rel=1e-10)


def test_als_model_loss_history_is_the_objective(split):
    model = ALS(n_factors=4, n_epochs=4, reg=0.5, alpha=3.0, values="rating").fit(split.train)
    R = split.train.to_csr("rating").toarray().astype(float)
    X, Y = model.user_factors_.astype(float), model.item_factors_.astype(float)
    assert model.loss_[-1] == pytest.approx(naive_objective(X, Y, R, 3.0, 0.5), rel=1e-4)
    assert np.all(np.diff(model.loss_) <= 1e-4 * model.loss_[0])


# ------------------------------------------------------------------------------ planted structure
@pytest.mark.parametrize("name", ["BPR", "ALS"])
def test_implicit_models_beat_popularity_on_clusters(fitted, split, name):
    ndcg = lambda m: evaluate(m, split, metrics=("NDCG",))["value"].item()  # noqa: E731
    pop = ndcg(Popularity().fit(split.train))
    assert ndcg(fitted[name]) > 3 * pop, (ndcg(fitted[name]), pop)


# ------------------------------------------------------------------------------ contract
@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_exclude_seen(fitted, split, name):
    model = fitted[name]
    n = split.train.n_items
    assert model.score([0, 1, 2]).shape == (3, n)
    items, scores = model.recommend(np.arange(6), k=5)
    assert items.shape == scores.shape == (6, 5)
    seen = split.train.to_csr("binary")
    assert all(not set(items[u]) & set(seen[u].indices) for u in range(6))
    assert model.recommend(0, k=4)[0].shape == (4,)
    assert model._item_vectors().shape == (n, FAST[name]["n_factors"])
    similar, _ = model.similar_items(2, k=3)
    assert 2 not in similar


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_gives_identical_recommendations(fitted, name, tmp_path):
    model = fitted[name]
    loaded = type(model).load(model.save(tmp_path / f"{name}.npz"))
    users = np.arange(20)
    for a, b in zip(model.recommend(users, k=10), loaded.recommend(users, k=10)):
        np.testing.assert_array_equal(a, b)
    assert loaded.get_params() == model.get_params()


@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_same_factors(split, name):
    args = dict(FAST[name], n_epochs=2)
    a, b, c = (MODELS[name](**args, seed=s).fit(split.train) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    assert not np.array_equal(a.item_factors_, c.item_factors_)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_n_factors(split, name, bad):
    with pytest.raises(ValueError, match=f"n_factors={bad}"):
        MODELS[name](n_factors=bad).fit(split.train)


@pytest.mark.parametrize("args, text", [
    (dict(alpha=-1.0), "alpha=-1.0"), (dict(reg=-0.1), "reg=-0.1"), (dict(values="counts"), "values='counts'"),
    (dict(n_epochs=0), "n_epochs=0"),
])
def test_bad_als_arguments(split, args, text):
    with pytest.raises(ValueError, match=text):
        ALS(**args).fit(split.train)


@pytest.mark.parametrize("cls", [FunkSVD, BPR])
@pytest.mark.parametrize("args, text", [
    (dict(optimizer="rmsprop"), "optimizer='rmsprop'"), (dict(lr=0), "lr=0"), (dict(batch_size=0), "batch_size=0"),
])
def test_bad_sgd_arguments(split, cls, args, text):
    with pytest.raises(ValueError, match=text):
        cls(**args).fit(split.train)


def test_predict_needs_pairs(fitted):
    with pytest.raises(ValueError, match="pair up"):
        fitted["FunkSVD"].predict([0, 1], [0])


# ------------------------------------------------------------------------------ geometry plot
def test_projection_is_pca():
    X = np.random.default_rng(8).normal(size=(30, 5)) * [3, 2, 1, 0.5, 0.1]
    centred = X - X.mean(0)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # eigenvectors of the covariance, ascending
    ref = centred @ vectors[:, ::-1][:, :2]
    np.testing.assert_allclose(np.abs(project(X)), np.abs(ref), atol=1e-8)  # PCA is defined up to sign


def test_plot_item_embeddings(fitted, split):
    ax = plot_item_embeddings(fitted["ALS"], split.train, "cluster 0")
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    with pytest.raises(ValueError, match="genre='Horror'"):
        plot_item_embeddings(fitted["ALS"], split.train, "Horror")


# ------------------------------------------------------------------------------ notebook 04 exercises
def test_notebook_04_exercises_accept_hand_answers_and_flag_stubs(fitted, split, capsys):
    import reclab.exercises.mf  # noqa: F401  (registers the exercises)
    from reclab.exercises import check

    train, valid = split.train.ratings, split.valid.ratings
    item_mean = train.groupby("item")["rating"].mean()
    guess = valid["item"].map(item_mean).fillna(train["rating"].mean())
    check("04-item-mean-rmse", float(np.sqrt(((valid["rating"] - guess) ** 2).mean())), split.train, split.valid)
    funk = fitted["FunkSVD"]
    by_hand = funk.global_mean_ + funk.user_bias_[3] + funk.item_bias_[5] + funk.user_factors_[3] @ funk.item_factors_[5]
    check("04-predict-by-hand", by_hand, funk, 3, 5)
    bpr = fitted["BPR"]
    x = bpr.user_factors_[2] @ (bpr.item_factors_[4] - bpr.item_factors_[9]) + bpr.item_bias_[4] - bpr.item_bias_[9]
    check("04-bpr-pair-loss", -np.log(1 / (1 + np.exp(-x))), bpr, 2, 4, 9)
    Q = fitted["ALS"].item_factors_
    cos = Q @ Q[6] / np.linalg.norm(Q, axis=1) / np.linalg.norm(Q[6])
    cos[6] = -np.inf
    check("04-nearest-movie", int(np.argmax(cos)), fitted["ALS"], 6)
    check("04-nearest-movie", ..., fitted["ALS"], 6)
    lines = capsys.readouterr().out.splitlines()
    assert [line[0] for line in lines] == ["✅"] * 4 + ["⬜"], lines


def test_bpr_with_valid_keeps_its_best_validation_epoch(fitted, split):
    from reclab.train import validation_ndcg

    model = fitted["BPR"]
    frame = model.history_.frame
    assert model.history_.best_epoch == int(frame.loc[frame["valid"].idxmax(), "epoch"])
    assert validation_ndcg(model, split.train, split.valid) == pytest.approx(model.history_.best_value, abs=1e-6)
    assert len(model.loss_) == len(frame) and model.loss_[-1] < model.loss_[0]


# ------------------------------------------------------------------------------ conjugate-gradient ALS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_als_cg_with_as_many_steps_as_factors_is_the_exact_solve(tiny, dtype):
    """CG solves an F × F positive definite system in F steps (in exact arithmetic), from any start."""
    rng = np.random.default_rng(11)
    Y = rng.normal(size=(9, 3)).astype(dtype)
    x0 = rng.normal(size=(7, 3)).astype(dtype)
    got = als_solve(Y, sp.csr_matrix(tiny), alpha=2.0, reg=0.5, cg_steps=3, x0=x0)
    want = naive_als_rows(Y.astype(float), tiny, 2.0, 0.5)
    tol = 1e-8 if dtype == np.float64 else 2e-4
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert not got[3].any()  # the user with no interactions gets exactly 0


def test_als_cg_few_steps_approach_the_exact_solve_on_a_larger_system():
    rng = np.random.default_rng(12)
    R = sp.random(60, 50, density=0.2, random_state=3, format="csr")
    Y = rng.normal(size=(50, 8))
    exact = naive_als_rows(Y, R.toarray(), 5.0, 1.0)
    errors = [np.abs(als_solve(Y, R, 5.0, 1.0, cg_steps=n) - exact).max() for n in (1, 3, 8)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-6 * np.abs(exact).max(), errors
    # warm-started from the answer, CG stays there
    np.testing.assert_allclose(als_solve(Y, R, 5.0, 1.0, cg_steps=2, x0=exact), exact, rtol=1e-9, atol=1e-12)


def test_als_cg_and_exact_models_agree_closely(split):
    cg = ALS(n_factors=8, n_epochs=10, reg=1.0, alpha=10.0, cg_steps=3).fit(split.train)
    exact = ALS(n_factors=8, n_epochs=10, reg=1.0, alpha=10.0, cg_steps=None).fit(split.train)
    assert cg.loss_[-1] == pytest.approx(exact.loss_[-1], rel=0.02)  # the same minimum, nearly
    ndcg = lambda m: evaluate(m, split, metrics=("NDCG",))["value"].item()  # noqa: E731
    assert abs(ndcg(cg) - ndcg(exact)) < 0.05


def test_als_x0_of_the_wrong_shape_is_refused(tiny):
    with pytest.raises(ValueError, match=r"x0 has shape \(2, 3\)"):
        als_solve(np.ones((9, 3)), sp.csr_matrix(tiny), 1.0, 1.0, cg_steps=2, x0=np.zeros((2, 3)))


# ------------------------------------------------------------------------------ fold-in
def with_rows(train: Interactions, user: int, items, rating: float = 5.0, replace: bool = False) -> Interactions:
    """``train`` with ``items`` added to (or, with ``replace``, instead of) ``user``'s rows."""
    r = train.ratings
    keep = r[r["user"] != user] if replace else r
    new = pd.DataFrame({"user": user, "item": np.asarray(items, np.int64), "rating": rating,
                        "timestamp": r["timestamp"].max() + 1 + np.arange(len(items))})
    return train.with_ratings(pd.concat([keep, new.astype(r.dtypes.to_dict())], ignore_index=True), name="history")


def test_als_fold_in_is_the_normal_equations_of_the_new_history(fitted, split):
    model = fitted["ALS"]
    history = split.history("test")
    Y = model.item_factors_.astype(np.float64)
    H = history.to_csr("binary").toarray().astype(np.float64)
    users = changed_users(split.train, history)[[0, 5, 40, -1]]  # whose binary row differs (a valid item may repeat)
    got = model.score(users, history=history)
    for row, u in enumerate(users):
        c = 1 + model.alpha * H[u]
        x = np.linalg.solve(Y.T @ (c[:, None] * Y) + model.reg * np.eye(Y.shape[1]), Y.T @ (c * (H[u] > 0)))
        np.testing.assert_allclose(got[row], x @ Y.T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_fold_in_moves_only_changed_users_and_never_the_items(fitted, split, name):
    model = fitted[name]
    before = {key: getattr(model, key).copy() for key in ("user_factors_", "item_factors_", "item_bias_")}
    history = with_rows(split.train, 3, [1, 2, 5])
    users = np.arange(split.train.n_users)
    folded, plain = model.score(users, history=history), model.score(users)
    others = users != 3
    np.testing.assert_array_equal(folded[others], plain[others])  # same user and item parameters, bit for bit
    assert not np.allclose(folded[3], plain[3])
    for key, value in before.items():  # the fitted model itself is unchanged
        np.testing.assert_array_equal(getattr(model, key), value)
    # cached: the same fold-in (one row is scored by another BLAS kernel, hence not bit for bit)
    np.testing.assert_allclose(model.score([3], history=history)[0], folded[3], rtol=1e-5, atol=1e-6)


def test_funksvd_fold_in_is_adam_on_the_user_parameters_by_hand(split, monkeypatch):
    monkeypatch.setattr(mf, "FOLD_IN_STEPS", 1)  # one step per epoch on all the user's ratings: order-free
    model = FunkSVD(n_factors=4, n_epochs=2, fold_in_epochs=3, lr=0.05, reg=0.1, device="cpu").fit(split.train)
    user, new = 5, [10, 20]
    history = with_rows(split.train, user, new, rating=4.0)
    rows = history.ratings[history.ratings["user"] == user]
    items, ratings = rows["item"].to_numpy(), rows["rating"].to_numpy(np.float64)
    Q, bi, mu = model.item_factors_.astype(float), model.item_bias_.astype(float), model.global_mean_
    theta = np.concatenate([model.user_factors_[user], [model.user_bias_[user]]]).astype(float)
    m, v = np.zeros(5), np.zeros(5)
    for t in range(1, 4):  # plain Adam, by hand
        e = ratings - (mu + theta[4] + bi[items] + Q[items] @ theta[:4])
        grad = np.concatenate([-(e[:, None] * Q[items]).sum(0), [-e.sum()]]) + model.reg * len(items) * theta
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
        theta -= model.lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    want = mu + theta[4] + bi + Q @ theta[:4]
    np.testing.assert_allclose(model.score([user], history=history)[0], want, rtol=1e-4, atol=1e-4)


def planted(train: Interactions, user: int = 0):
    """``user``'s history replaced by 12 items of the cluster they know least: (history, that cluster, clusters)."""
    cluster = train.items["cluster"].to_numpy()
    own = np.bincount(cluster[train.binary()[user].indices], minlength=4)
    target = int(np.argmin(own))
    history = with_rows(train, user, np.flatnonzero(cluster == target)[:12], replace=True)
    return history, target, int(np.argmax(own)), cluster


@pytest.mark.parametrize("name", ["BPR", "ALS"])
def test_a_planted_history_of_one_cluster_gets_that_cluster_on_top(fitted, split, name):
    model = fitted[name]
    history, target, _, cluster = planted(split.train)
    folded, _ = model.recommend(0, k=5, history=history)
    plain, _ = model.recommend(0, k=5)
    assert (cluster[folded] == target).mean() >= 0.8, (name, cluster[folded], target)
    assert (cluster[plain] == target).mean() < 0.8  # without the fold-in the old taste would still rank first


def test_funksvd_fold_in_follows_planted_ratings(split):
    """Ratings, not clicks: 5 stars for a new cluster and 1 star for the user's old one turn the predictions round."""
    model = FunkSVD(n_factors=8, n_epochs=20, batch_size=256, lr=0.02, device="cpu").fit(split.train)
    history, target, old, cluster = planted(split.train)
    history = with_rows(history, 0, np.flatnonzero(cluster == old)[:12], rating=1.0)
    unrated = np.ones(split.train.n_items, bool)
    unrated[history.binary()[0].indices] = False
    gap = lambda s: s[unrated & (cluster == target)].mean() - s[unrated & (cluster == old)].mean()  # noqa: E731
    assert gap(model.score([0])[0]) < 0 < gap(model.score([0], history=history)[0])


def test_bpr_hand_gradient_equals_autograd_of_the_formula():
    rng = np.random.default_rng(13)
    P, Q, b = rng.normal(size=(4, 3)), rng.normal(size=(6, 3)), rng.normal(size=6)
    u, i, j = map(torch.tensor, (np.array([0, 1, 1, 3, 0]), np.array([2, 0, 0, 5, 2]), np.array([1, 4, 3, 0, 1])))
    reg = 0.2
    tables = [torch.tensor(a, requires_grad=True) for a in (P, Q, b)]
    x = (tables[0][u] * (tables[1][i] - tables[1][j])).sum(1) + tables[2][i] - tables[2][j]
    norms = sum((t ** 2).sum() for t in (tables[0][u], tables[1][i], tables[1][j], tables[2][i], tables[2][j]))
    (torch.log1p(torch.exp(-x)).sum() + 0.5 * reg * norms).mul(2.5).backward()  # a scaled loss, too
    net = BPRNet(4, 6, 3, reg=reg).double()
    with torch.no_grad():
        for param, value in zip((net.user_factors, net.item_factors, net.item_bias), (P, Q, b)):
            param.copy_(torch.tensor(value))
    net.loss({"user": u, "pos": i, "neg": j}).mul(2.5).backward()
    for param, ref in zip((net.user_factors, net.item_factors, net.item_bias), tables):
        np.testing.assert_allclose(param.grad.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ parameter rules
@pytest.mark.parametrize("cls, args, text", [
    (FunkSVD, dict(fold_in_epochs=-1), r"fold_in_epochs=-1 is not valid: it must be an int >= 0"),
    (BPR, dict(item_bias=1), r"item_bias=1 is not valid: it must be True or False"),
    (BPR, dict(patience=0), r"patience=0 is not valid"),
    (ALS, dict(cg_steps=0), r"cg_steps=0 is not valid: it must be an int >= 1, or None"),
    (ALS, dict(init_std=-1.0), r"init_std=-1.0 is not valid"),
])
def test_parameter_rules_name_the_argument(split, cls, args, text):
    with pytest.raises(ValueError, match=text):
        cls(**args).fit(split.train)


@pytest.mark.parametrize("name", list(MODELS))
def test_numpy_ints_are_accepted_and_give_the_same_model(split, name):
    args = {k: (np.int64(v) if isinstance(v, int) else v) for k, v in dict(FAST[name], n_epochs=2).items()}
    a, b = MODELS[name](**args).fit(split.train), MODELS[name](**dict(FAST[name], n_epochs=2)).fit(split.train)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


def test_sample_negatives_is_still_importable_from_mf():
    from reclab.models import mf

    assert mf.sample_negatives is sample_negatives


def test_fold_in_steps_give_every_user_the_same_number_of_steps():
    users = np.repeat([0, 1, 2], [25, 3, 10])  # more, fewer and as many rows as FOLD_IN_STEPS
    rows = torch.arange(len(users))
    batches = list(mf._per_user_steps(np.random.default_rng(0), users, row=rows))
    assert len(batches) == mf.FOLD_IN_STEPS
    seen = torch.cat([b["row"] for b in batches])
    assert sorted(seen.tolist()) == list(range(len(users)))  # every row once per epoch
    steps = {u: sum(u in set(users[b["row"].numpy()]) for b in batches) for u in range(3)}
    assert steps == {0: 10, 1: 3, 2: 10}
