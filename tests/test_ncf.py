"""GMF, MLP, NeuMF: nets against hand computations, the sampling rule, learning, the contract, the
fold-in of a new history, the learner's random state, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import reclab.models.ncf as ncf
from reclab import evaluate
from reclab.data import leave_last_out, make_synthetic
from reclab.models import GMF, MLP, NeuMF, NotFittedError, Popularity
from reclab.models.ncf import GMFNet, MLPNet, NeuMFNet, sample_negatives
from reclab.train import History, validation_ndcg

torch.set_num_threads(1)
SMALL = dict(batch_size=512, lr=0.01, n_epochs=10, device="cpu")  # a few seconds per model on synthetic data


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=200, n_items=80, p_follow=0.0, seed=4))


@pytest.fixture(scope="module")
def fitted(split):
    gmf = GMF(n_factors=16, **SMALL).fit(split.train, valid=split.valid)
    mlp = MLP(layers=(32, 16, 8), **SMALL).fit(split.train, valid=split.valid)
    neumf = NeuMF(n_factors=8, layers=(32, 16, 8), **SMALL).fit(split.train, valid=split.valid)
    return {"GMF": gmf, "MLP": mlp, "NeuMF": neumf}


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ------------------------------------------------------------------------------ nets
def test_gmf_forward_is_h_dot_p_times_q():
    net = GMFNet(3, 4, 2)
    P, Q, h, b = np.array([[1.0, 2], [0, -1], [3, 0.5]]), np.arange(8.0).reshape(4, 2) / 4, np.array([0.5, -2.0]), 0.25
    with torch.no_grad():
        net.user.weight.copy_(torch.tensor(P)), net.item.weight.copy_(torch.tensor(Q))
        net.out.weight.copy_(torch.tensor(h[None])), net.out.bias.fill_(b)
    u, i = [0, 2, 1], [3, 0, 2]
    expected = [sum(h[f] * P[uu, f] * Q[ii, f] for f in range(2)) + b for uu, ii in zip(u, i)]
    np.testing.assert_allclose(net(torch.tensor(u), torch.tensor(i)).detach().numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(net.score(torch.tensor([2])).detach().numpy()[0],
                               [h @ (P[2] * Q[j]) + b for j in range(4)], rtol=1e-6)


def test_mlp_forward_matches_numpy():
    torch.manual_seed(0)
    net = MLPNet(5, 6, (4, 3, 2))
    W = {k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()}
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    x = np.concatenate([W["user.weight"][1], W["item.weight"][4]])
    h = relu(W["tower.0.weight"] @ x + W["tower.0.bias"])
    h = relu(W["tower.1.weight"] @ h + W["tower.1.bias"])
    expected = W["out.weight"] @ h + W["out.bias"]
    np.testing.assert_allclose(net(torch.tensor([1]), torch.tensor([4])).detach().numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("net", [GMFNet(4, 7, 3), MLPNet(4, 7, (6, 5, 2)), NeuMFNet(4, 7, 3, (6, 5, 2))],
                         ids=["GMF", "MLP", "NeuMF"])
def test_score_of_every_item_equals_the_pairwise_forward(net):
    users = torch.tensor([0, 3, 2])
    pairs = net(users.repeat_interleave(7), torch.arange(7).repeat(3)).reshape(3, 7)
    torch.testing.assert_close(net.score(users), pairs, rtol=1e-5, atol=1e-6)


def test_loss_is_binary_cross_entropy_on_0_1_labels():
    torch.manual_seed(1)
    net = GMFNet(4, 5, 3)
    batch = {"user": torch.tensor([0, 1, 3, 2]), "item": torch.tensor([4, 0, 2, 2]),
             "label": torch.tensor([1.0, 0, 0, 1])}
    x = net(batch["user"], batch["item"]).detach().numpy().astype(np.float64)
    y = batch["label"].numpy()
    expected = -np.mean(y * np.log(_sigmoid(x)) + (1 - y) * np.log(1 - _sigmoid(x)))
    assert np.isclose(net.loss(batch).item(), expected, rtol=1e-6)


def test_neumf_pretrained_is_the_alpha_mix_of_its_branches():
    torch.manual_seed(2)
    gmf, mlp, neumf = GMFNet(4, 6, 3), MLPNet(4, 6, (4, 2)), NeuMFNet(4, 6, 3, (4, 2))
    neumf.load_pretrained(gmf, mlp, alpha=0.3)
    u, i = torch.tensor([0, 1, 3]), torch.tensor([5, 2, 0])
    torch.testing.assert_close(neumf(u, i), 0.3 * gmf(u, i) + 0.7 * mlp(u, i))


# ------------------------------------------------------------------------------ negatives
def test_negatives_are_never_positives_and_cover_the_rest():
    rng = np.random.default_rng(0)
    dense = rng.random((30, 12)) < 0.6
    dense[0] = np.arange(12) < 11  # user 0 has one unseen item left: it must be drawn every time
    seen = sp.csr_matrix(dense, dtype=np.float32)
    users = np.repeat(np.arange(30), 200)
    items = sample_negatives(seen, users, rng)
    assert not dense[users, items].any()
    assert (items[users == 0] == 11).all()
    for u in range(1, 30):  # every unseen item of the user shows up, roughly uniformly
        drawn = np.bincount(items[users == u], minlength=12)
        unseen = ~dense[u]
        assert (drawn[unseen] > 0).all() and drawn[~unseen].sum() == 0
        assert drawn[unseen].max() < 3 * 200 / unseen.sum()


def test_explicit_zeros_are_not_interactions_and_a_full_user_is_an_error():
    seen = sp.csr_matrix((np.array([1.0, 0.0, 1.0]), (np.array([0, 0, 1]), np.array([0, 1, 1]))), shape=(2, 2))
    assert sample_negatives(seen, np.array([0, 0, 0]), np.random.default_rng(0)).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="user 1 has interacted with every item"):
        sample_negatives(sp.csr_matrix(np.array([[1, 0], [1, 1]])), np.array([0, 1]), np.random.default_rng(0))


def test_training_batches_hold_every_positive_once_and_n_negatives_per_positive(split, monkeypatch):
    captured = {}

    def fake_fit_net(net, batches, **kwargs):
        captured["rows"] = list(batches(np.random.default_rng(0)))
        return History()

    monkeypatch.setattr(ncf, "fit_net", fake_fit_net)
    GMF(n_negatives=3, batch_size=700).fit(split.train)
    rows = captured["rows"]
    assert max(len(b["user"]) for b in rows) == 700
    u, i, y = (torch.cat([b[k] for b in rows]).numpy() for k in ("user", "item", "label"))
    seen = split.train.to_csr("binary").toarray().astype(bool)
    positives = set(zip(*np.nonzero(seen)))
    assert sorted(zip(u[y == 1], i[y == 1])) == sorted(positives)  # each distinct pair once
    assert (y == 0).sum() == 3 * len(positives)
    assert not seen[u[y == 0], i[y == 0]].any()
    assert set(np.unique(y)) == {0.0, 1.0}  # labels, never star ratings


# ------------------------------------------------------------------------------ learning
@pytest.mark.parametrize("name", ["GMF", "MLP", "NeuMF"])
def test_beats_popularity_on_taste_clusters(split, fitted, name):
    pop = evaluate(Popularity().fit(split.train), split, metrics=("NDCG",))["value"].item()
    ndcg = evaluate(fitted[name], split, metrics=("NDCG",))["value"].item()
    assert ndcg > 2 * pop, (name, ndcg, pop)


def test_early_stopping_keeps_the_best_validation_epoch(split, fitted):
    model = fitted["GMF"]
    frame = model.history_.frame
    assert model.history_.best_value == frame["valid"].max()
    assert np.isclose(validation_ndcg(model, split.train, split.valid), model.history_.best_value)


def test_pretrained_neumf_starts_from_its_branches(split, fitted):
    neumf = NeuMF(n_factors=16, layers=(32, 16, 8), **{**SMALL, "n_epochs": 1, "lr": 1e-12})
    neumf.fit(split.train, valid=split.valid, pretrained=(fitted["GMF"], fitted["MLP"]))
    expected = 0.5 * fitted["GMF"].score(np.arange(5)) + 0.5 * fitted["MLP"].score(np.arange(5))
    np.testing.assert_allclose(neumf.score(np.arange(5)), expected, rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------------------ contract
@pytest.mark.parametrize("name", ["GMF", "MLP", "NeuMF"])
def test_contract_shapes_exclude_seen_save_load(split, fitted, name, tmp_path):
    model = fitted[name]
    items, scores = model.recommend([0, 1, 2], k=5)
    assert items.shape == scores.shape == (3, 5)
    assert model.score(np.arange(7)).shape == (7, split.train.n_items)
    seen = split.train.to_csr("binary")
    assert all(not set(items[u]) & set(seen[u].indices) for u in range(3))
    loaded = type(model).load(model.save(tmp_path / "model.npz"))
    np.testing.assert_array_equal(loaded.recommend(np.arange(50), k=10)[0], model.recommend(np.arange(50), k=10)[0])
    np.testing.assert_allclose(loaded.score(np.arange(5)), model.score(np.arange(5)), rtol=1e-6)


def test_same_seed_same_model_other_seed_other_model(split):
    kwargs = dict(n_factors=8, batch_size=1024, n_epochs=2, device="cpu")
    a = GMF(seed=1, **kwargs).fit(split.train).score(np.arange(5))
    b = GMF(seed=1, **kwargs).fit(split.train).score(np.arange(5))
    c = GMF(seed=2, **kwargs).fit(split.train).score(np.arange(5))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_similar_items_uses_weighted_item_factors(fitted):
    items, _ = fitted["GMF"].similar_items(3, k=4)
    assert items.shape == (4,) and 3 not in items


def test_unfitted():
    with pytest.raises(NotFittedError):
        NeuMF().recommend(0)


# ------------------------------------------------------------------------------ fold-in of a new history
def _with_rows(train, rows):
    """``train`` plus ``rows`` ((user, item) pairs), later than everything in it."""
    extra = pd.DataFrame({"user": [u for u, _ in rows], "item": [i for _, i in rows], "rating": 5.0,
                          "timestamp": train.ratings["timestamp"].max() + 1 + np.arange(len(rows))})
    return train.with_ratings(pd.concat([train.ratings, extra.astype(train.ratings.dtypes)], ignore_index=True))


def _unseen(train, user, n):
    return [int(i) for i in np.flatnonzero(train.to_csr("binary")[user].toarray()[0] == 0)[:n]]


@pytest.mark.parametrize("name", ["GMF", "MLP", "NeuMF"])
def test_fold_in_refits_only_the_changed_users_vectors(split, fitted, name):
    model = fitted[name]
    before = {k: v.clone() for k, v in model.net_.state_dict().items()}
    changed = [3, 7]
    history = _with_rows(split.train, [(u, i) for u in changed for i in _unseen(split.train, u, 3)])
    users = np.arange(split.train.n_users)
    learned, folded = model.score(users), model.score(users, history=history)
    others = np.setdiff1d(users, changed)
    np.testing.assert_array_equal(folded[others], learned[others])  # bit for bit
    assert np.abs(folded[changed] - learned[changed]).max() > 1e-3
    for key, value in model.net_.state_dict().items():  # scoring never changes the fitted net
        assert torch.equal(value, before[key]), key
    net = model._net_for(history)  # the folded-in copy: only the user rows of the changed users moved
    for key, value in net.state_dict().items():
        if key in model._user_tables:
            assert torch.equal(value[others], before[key][others]) and not torch.equal(value[changed], before[key][changed])
        else:
            assert torch.equal(value, before[key]), key
    same = split.train.with_ratings(split.train.ratings.copy())  # another object, the same ratings
    np.testing.assert_array_equal(model.score(users, history=same), learned)


def test_a_user_whose_history_is_emptied_keeps_finite_scores(split, fitted):
    r = split.train.ratings
    history = split.train.with_ratings(r[r["user"] != 9])  # user 9 alone changed, to no history at all
    for model in fitted.values():
        scores = model.score([9, 10], history=history)
        assert np.isfinite(scores).all()
        np.testing.assert_array_equal(scores, model.score([9, 10]))  # no gradient: the learned vector stays


def test_gmf_fold_in_keeps_the_items_fixed(split, fitted):
    # GMF's logits of user u are Q (h ⊙ p_u) + b: with Q, h and b frozen, the new scores of a
    # folded-in user are still exactly in the span of the learned item matrix
    model = fitted["GMF"]
    Q = model.net_.item.weight.detach().numpy().astype(np.float64)
    b = float(model.net_.out.bias.detach())
    history = _with_rows(split.train, [(5, i) for i in _unseen(split.train, 5, 4)])
    new = model.score([5], history=history)[0].astype(np.float64)
    coef, *_ = np.linalg.lstsq(Q, new - b, rcond=None)
    np.testing.assert_allclose(Q @ coef + b, new, atol=1e-5)
    other = Q + np.random.default_rng(0).normal(0, 0.05, Q.shape)  # a moved item matrix would not fit
    coef, *_ = np.linalg.lstsq(other, new - b, rcond=None)
    assert np.abs(other @ coef + b - new).max() > 1e-3


def test_gmf_fold_in_follows_a_user_into_another_taste_cluster(split, fitted):
    data = make_synthetic(n_users=200, n_items=80, p_follow=0.0, seed=4)  # the data of the split fixture
    cluster = data.items["cluster"].to_numpy()
    model, user = fitted["GMF"], 11
    own = int(data.users["cluster"].iloc[user])
    top, _ = model.recommend(user, k=5)
    assert (cluster[top] == own).all()  # the learned vector: the user's own cluster
    other = (own + 1) % 4
    new_items = np.flatnonzero(cluster == other)[:10]  # half of another cluster, and nothing else
    r = split.train.ratings
    rows = pd.DataFrame({"user": user, "item": new_items, "rating": 5.0, "timestamp": r["timestamp"].max() + 1})
    history = split.train.with_ratings(pd.concat([r[r["user"] != user], rows.astype(r.dtypes)], ignore_index=True))
    top, _ = model.recommend(user, k=5, history=history)
    assert (cluster[top] == other).all() and not set(top) & set(new_items)


@pytest.mark.parametrize("make", [lambda: GMF(n_factors=4), lambda: MLP(layers=(8, 4)),
                                  lambda: NeuMF(n_factors=4, layers=(8, 4))], ids=["GMF", "MLP", "NeuMF"])
def test_fitting_leaves_the_learners_torch_random_state_alone(split, make):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = make()
    model.n_epochs, model.batch_size, model.device = 2, 2048, "cpu"
    model.fit(split.train, valid=split.valid)
    model.score([0, 1], history=split.history("test"))  # the fold-in too
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("model, word", [
    (GMF(n_negatives=0), "n_negatives=0"),
    (GMF(n_factors=0), "n_factors=0"),
    (GMF(lr=-1.0), "lr=-1.0"),
    (GMF(patience=0), "patience=0"),
    (MLP(layers=(63, 16)), r"layers=\(63, 16\)"),
    (MLP(layers=(64,)), r"layers=\(64,\)"),
    (MLP(layers="64-32"), "layers='64-32'"),
    (NeuMF(layers=(64, 0)), r"layers=\(64, 0\)"),
    (GMF(batch_size=2.5), "batch_size=2.5"),
    (GMF(fold_in_epochs=-1), "fold_in_epochs=-1"),
    (NeuMF(seed=-3), "seed=-3"),
    (MLP(progress="yes"), "progress='yes'"),
])
def test_bad_parameters_are_named(split, model, word):
    with pytest.raises(ValueError, match=word + " is not valid: it must be"):
        model.fit(split.train)


def test_numpy_ints_are_accepted_as_sizes(split):
    sizes = dict(n_negatives=np.int64(2), n_epochs=np.int32(1), batch_size=np.int64(1024), fold_in_epochs=np.int64(1),
                 device="cpu")
    for model in (GMF(n_factors=np.int64(4), **sizes), MLP(layers=(np.int64(8), np.int32(4)), **sizes),
                  NeuMF(n_factors=np.int16(4), layers=(np.int64(8), 4), **sizes)):
        model.fit(split.train, valid=split.valid)
        assert model.score([0], history=split.history("test")).shape == (1, split.train.n_items)


def test_bad_pretrained_is_refused(split, fitted):
    with pytest.raises(ValueError, match="a fitted GMF and a fitted MLP"):
        NeuMF(n_factors=16, layers=(32, 16, 8)).fit(split.train, pretrained=(fitted["MLP"], fitted["GMF"]))
    with pytest.raises(ValueError, match="n_factors=16"):
        NeuMF(n_factors=4, layers=(32, 16, 8)).fit(split.train, pretrained=(fitted["GMF"], fitted["MLP"]))


# ------------------------------------------------------------------------------ notebook 06's exercises
def test_exercise_checkers_accept_right_reject_wrong_and_spot_stubs(split, fitted):
    import reclab.exercises.ncf  # noqa: F401  (registers the exercises)
    from reclab.exercises import EXERCISES

    logits, labels = np.array([2.0, -1.0, 0.0]), np.array([1, 0, 0])
    bce = float(-np.mean(labels * np.log(_sigmoid(logits)) + (1 - labels) * np.log(1 - _sigmoid(logits))))
    net = fitted["GMF"].net_
    w = {k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()}
    logit = float(w["out.weight"][0] @ (w["user.weight"][3] * w["item.weight"][5]) + w["out.bias"][0])
    r = split.train.ratings
    cases = {
        "06-negative-pool": ((split.train, 7), split.train.n_items - r.loc[r["user"] == 7, "item"].nunique()),
        "06-gmf-logit": ((fitted["GMF"], 3, 5), logit),
        "06-bce-by-hand": ((logits, labels), bce),
        "06-head-parameters": ((fitted["MLP"],), 32 * 16 + 16 + 16 * 8 + 8 + 8 + 1),
    }
    for name, (inputs, right) in cases.items():
        exercise = EXERCISES[name]
        assert exercise.evaluate(right, *inputs).status == "correct", name
        assert exercise.evaluate(right + 1, *inputs).status == "wrong", name
        assert exercise.evaluate(..., *inputs).status == "not attempted", name
