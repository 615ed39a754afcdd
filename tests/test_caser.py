"""Caser (reclab.models.caser): it learns planted patterns that need the order of the last items
(where a first-order chain and an order-blind item kNN are right half the time), its convolutions
equal a loop written by hand, and it keeps the recommender contract."""
import doctest

import numpy as np
import pandas as pd
import pytest
import torch

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import Caser, ItemKNN, MarkovChain, NotFittedError, Popularity
from reclab.models import caser as caser_module
from reclab.models.caser import CaserNet, windows

FAST = dict(n_factors=16, n_h=4, n_v=2, n_epochs=30, patience=4, lr=5e-3, batch_size=64, dropout=0.2, device="cpu")


def walks(steps: tuple[int, int], n_users: int = 300, n_items: int = 60, seed: int = 0) -> Interactions:
    """Each user walks the ring of items with one of two ``steps`` (drawn per user), never repeating an item.

    Steps (1, 3): after ..., i − s, i comes i + s, a function of the last *two* items, while the
    last one alone leaves two unseen successors (i + 1, i + 3) equally likely. Steps (1, −1): a user
    who walked up to the top of a stretch of the ring and one who walked down to its bottom have the
    same *set* of items; only the order says which end comes next. Walks are shorter than a third
    of the ring, so no item repeats and masking seen items never hides the answer.
    """
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        start, step, n = rng.integers(n_items), rng.choice(steps), rng.integers(8, n_items // 3)
        users += [u] * n
        items += list((start + step * np.arange(n)) % n_items)
    ratings = pd.DataFrame({"user_id": users, "item_id": items, "rating": 5.0,
                            "timestamp": np.concatenate([np.arange(c) for c in np.bincount(users)])})
    return Interactions.from_frames(ratings, items=pd.DataFrame({"item_id": range(n_items)}))


def hit_rate(model, split, k: int) -> float:
    return float(evaluate(model, split, k, metrics=("HR",), ci=None)["value"].iloc[0])


@pytest.fixture(scope="module")
def split():
    torch.set_num_threads(1)
    return leave_last_out(make_synthetic(n_users=60, n_items=50, length=(8, 16), seed=2))


@pytest.fixture(scope="module")
def fitted(split):
    return Caser(**{**FAST, "n_epochs": 3}).fit(split.train, valid=split.valid)


# ------------------------------------------------------------------------------ it learns order
@pytest.mark.parametrize("steps, blind", [((1, 3), MarkovChain), ((1, -1), ItemKNN)],
                         ids=["last-two-items-vs-first-order-chain", "order-vs-item-set"])
def test_caser_learns_a_pattern_that_needs_the_order_of_the_last_items(steps, blind):
    torch.set_num_threads(1)  # tiny nets: threads only add overhead
    ring = leave_last_out(walks(steps))
    got = hit_rate(Caser(**FAST).fit(ring.train, valid=ring.valid), ring, 1)
    # the blind model sees only the last item (MarkovChain) or only the set of items (ItemKNN): two
    # answers fit what it sees equally well, so it is right about half the time at best
    baseline = hit_rate(blind().fit(ring.train), ring, 1)
    popular = hit_rate(Popularity().fit(ring.train), ring, 1)
    chance = 1 / ring.train.n_items
    assert baseline < 0.5 + 0.15, baseline
    assert got > baseline + 0.3 and got > popular + 0.5 and got > 20 * chance, (got, baseline, popular)


# ------------------------------------------------------------------------------ the net by hand
def test_convolutions_equal_a_loop_over_windows():
    torch.manual_seed(0)
    n_items, d, L, n_h, n_v = 9, 4, 3, 2, 2
    net = CaserNet(n_items, d, L, n_h, n_v, dropout=0.5, loss="ce").eval()
    items = torch.tensor([[3, 1, 7], [0, 0, 5]])  # (B, L): the second history has one item
    o, o_v = net.convolutions(items)
    assert o.shape == (2, n_h * L) and o_v.shape == (2, n_v * d)
    E = net.item_emb.weight[items]  # (B, L, d)
    assert torch.equal(E[1, :2], torch.zeros(2, d))  # padding rows are zero
    for b in range(2):
        expected = []
        for h, conv in zip(range(1, L + 1), net.conv_h):
            W, bias = conv.weight[:, 0], conv.bias  # (n_h, h, d), (n_h,)
            per_window = [torch.relu((W * E[b, t: t + h]).sum(dim=(1, 2)) + bias) for t in range(L - h + 1)]
            expected.append(torch.stack(per_window).max(dim=0).values)  # max over time
        torch.testing.assert_close(o[b], torch.cat(expected))
        V, vb = net.conv_v.weight[:, 0, :, 0], net.conv_v.bias  # (n_v, L), (n_v,)
        torch.testing.assert_close(o_v[b], (V @ E[b] + vb[:, None]).flatten())  # a weighted sum of the rows
    z = torch.relu(net.fc(torch.cat([o_v, o], dim=1)))
    torch.testing.assert_close(net.score(items), z @ net.out_emb.weight.T + net.bias)
    with torch.no_grad():  # a batch cropped to its longest history reads the same image
        torch.testing.assert_close(net.score(items[1:, -1:]), net.score(items[1:]))
        torch.testing.assert_close(net.score(torch.tensor([[8, 2, 3, 1, 7]])), net.score(items[:1]))  # last L kept


def test_windows_pair_each_position_with_its_predecessors_and_next_items():
    inputs, targets = windows([np.array([5, 6, 7, 8]), np.array([9]), np.array([2, 4])], max_len=2, n_targets=2)
    assert inputs.tolist() == [[0, 5], [5, 6], [6, 7], [0, 2]]
    assert targets.tolist() == [[6, 7], [7, 8], [8, 0], [4, 0]]
    assert doctest.testmod(caser_module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_several_targets_and_bce_train(split):
    for model in (Caser(**{**FAST, "n_epochs": 2, "n_targets": 3}), Caser(**{**FAST, "n_epochs": 2, "loss": "bce"}),
                  Caser(**{**FAST, "n_epochs": 2, "n_v": 0})):
        model.fit(split.train, valid=split.valid)
        assert np.isfinite(model.history_.frame["loss"]).all() and np.isfinite(model.score([0, 1])).all()


# ------------------------------------------------------------------------------ the contract
def test_save_load_round_trip_gives_identical_scores(fitted, split, tmp_path):
    again = Caser.load(fitted.save(tmp_path / "caser.npz"))
    users = np.arange(split.train.n_users)
    np.testing.assert_array_equal(again.score(users), fitted.score(users))
    history = split.history("test")
    np.testing.assert_array_equal(again.score(users, history=history), fitted.score(users, history=history))
    assert again.recommend(3, k=5)[0].tolist() == fitted.recommend(3, k=5)[0].tolist()


def test_scores_change_only_for_users_whose_history_changed(fitted, split):
    r = split.train.ratings
    changed = [0, 7]
    events = pd.DataFrame({"user": changed, "item": [3, 11], "rating": 5.0, "timestamp": r["timestamp"].max() + 1})
    history = split.train.with_ratings(pd.concat([r, events.astype(r.dtypes)], ignore_index=True))
    users = np.arange(split.train.n_users)
    before, after = fitted.score(users), fitted.score(users, history=history)
    same = np.setdiff1d(users, changed)
    np.testing.assert_array_equal(after[same], before[same])
    assert all(not np.allclose(after[u], before[u]) for u in changed)
    # the scores continue the history given: the same as scoring its sequences directly
    np.testing.assert_allclose(after[changed], fitted.score_sequences([history.sequences()[u] for u in changed]),
                               atol=1e-6)


def test_recommend_excludes_the_items_of_the_history(fitted, split):
    users = np.arange(split.train.n_users)
    history = split.history("test")
    items, _ = fitted.recommend(users, k=20, history=history)
    seen = history.to_csr("binary")
    assert not any(set(items[row]) & set(seen[u].indices) for row, u in enumerate(users))


def test_fitting_leaves_the_learners_torch_random_state_alone(split):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Caser(**{**FAST, "n_epochs": 1}).fit(split.train, valid=split.valid).score([0, 1], history=split.history("test"))
    assert torch.equal(torch.rand(3), expected)


def test_unfitted_use_raises_not_fitted(tmp_path):
    model = Caser()
    for use in (lambda: model.score([0]), lambda: model.recommend(0), lambda: model.save(tmp_path / "m.npz"),
                lambda: model.score_sequences([[1, 2]])):
        with pytest.raises(NotFittedError, match="Caser is not fitted yet; call fit"):
            use()


@pytest.mark.parametrize("name, value", [("max_len", 0), ("n_h", 0), ("n_v", -1), ("n_targets", 0),
                                         ("n_factors", 0), ("dropout", 1.0), ("loss", "mse"), ("batch_size", 0)])
def test_bad_parameters_are_named(split, name, value):
    with pytest.raises(ValueError, match=f"{name}={value!r} is not valid"):
        Caser(**{name: value}).fit(split.train)
