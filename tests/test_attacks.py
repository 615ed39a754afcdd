"""Shilling: the fake profiles are what the docstring says, they push the target, exposure counts by hand."""
from __future__ import annotations

import numpy as np
import pytest

from reclab.attacks import exposure, shilling
from reclab.data import make_synthetic
from reclab.models import EASE


@pytest.fixture(scope="module")
def train():
    return make_synthetic(n_users=80, n_items=40, seed=4)


def rare_item(train):
    return int(np.argmin(train.item_counts()))


@pytest.mark.parametrize("filler", ["random", "bandwagon"])
def test_the_fake_profiles(train, filler):
    target = rare_item(train)
    poisoned = shilling(train, target, n_fake=7, n_filler=5, filler=filler, n_popular=10, seed=1)
    real, r = train.ratings, poisoned.ratings
    assert poisoned.n_users == train.n_users + 7 and list(poisoned.user_ids[-2:]) == ["fake:5", "fake:6"]
    assert r.iloc[: len(real)].reset_index(drop=True).equals(real[r.columns].reset_index(drop=True))
    fake = r.iloc[len(real):]
    popular = set(np.argsort(-train.item_counts(), kind="stable")[:10])
    for _, rows in fake.groupby("user"):
        rows = rows.sort_values("timestamp")
        assert len(rows) == 6 and rows["item"].iloc[-1] == target and rows["item"].nunique() == 6
        assert rows["rating"].iloc[-1] == real["rating"].max()
        fillers = rows["item"].iloc[:-1]
        if filler == "bandwagon":
            assert set(fillers) <= popular - {target}
        means = real.groupby("item")["rating"].mean()
        np.testing.assert_allclose(rows["rating"].iloc[:-1], means.reindex(fillers).to_numpy(), rtol=1e-6)
    assert fake["timestamp"].min() > real["timestamp"].max()


def test_enough_shills_push_a_rare_item_into_real_users_lists():
    train = make_synthetic(n_users=100, n_items=200, length=(10, 20), seed=4)  # a long tail: the target has 1 rating
    target = rare_item(train)
    real = np.arange(train.n_users)
    before = exposure(EASE(reg=5.0).fit(train), target, real)
    poisoned = shilling(train, target, n_fake=60, n_filler=3, n_popular=10)
    after = exposure(EASE(reg=5.0).fit(poisoned), target, real, history=poisoned)
    assert before <= 0.01 and after >= before + 0.1


def test_exposure_counts_the_users_whose_list_holds_the_target(train):
    model = EASE(reg=5.0).fit(train)
    items, _ = model.recommend(np.arange(20), k=5)
    target = int(items[0, 0])
    assert exposure(model, target, np.arange(20), k=5) == pytest.approx(np.mean([target in row for row in items]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(target=999), "target=999"),
    (dict(target=0, n_fake=0), "n_fake=0"),
    (dict(target=0, filler="average"), "filler='average'"),
    (dict(target=0, n_filler=50, filler="bandwagon", n_popular=10), "n_filler=50 exceeds"),
])
def test_bad_input_is_named(train, kwargs, message):
    with pytest.raises(ValueError, match=message):
        shilling(train, **kwargs)


def test_degsim_is_the_mean_of_the_top_k_cosines_and_ranks_the_shills_first():
    from reclab.attacks import degsim

    train = make_synthetic(n_users=100, n_items=200, length=(10, 20), seed=4)  # real users who differ
    poisoned = shilling(train, rare_item(train), n_fake=10, n_filler=6, n_popular=8)
    scores = degsim(poisoned, k=5)
    X = poisoned.binary().toarray().astype(float)
    for u in (0, 17, train.n_users + 3):  # by hand for a few users
        cos = [X[u] @ X[v] / np.sqrt((X[u] @ X[u]) * (X[v] @ X[v])) for v in range(len(X)) if v != u]
        assert scores[u] == pytest.approx(np.mean(sorted(cos, reverse=True)[:5]))
    suspects = np.argsort(-scores, kind="stable")[:10]
    assert set(suspects) == set(range(train.n_users, train.n_users + 10))
    with pytest.raises(ValueError, match="k=0"):
        degsim(poisoned, k=0)


def test_rdma_by_hand_and_the_average_attack_strays_least():
    from reclab.attacks import rdma

    train = make_synthetic(n_users=60, n_items=50, length=(8, 15), seed=5)
    r = train.ratings
    got = rdma(train)
    for u in (0, 9, 31):  # by hand: |r - item mean| / item count, averaged over the user's ratings
        mine = r[r["user"] == u]
        terms = [abs(row.rating - r.loc[r["item"] == row.item, "rating"].mean()) / (r["item"] == row.item).sum()
                 for row in mine.itertuples()]
        assert got[u] == pytest.approx(np.mean(terms))
    poisoned = shilling(train, rare_item(train), n_fake=6, n_filler=10, filler="random")
    scores = rdma(poisoned)  # fillers at the item mean deviate 0; only the target deviates
    assert set(np.argsort(scores, kind="stable")[:6]) == set(range(train.n_users, train.n_users + 6))
