"""The recommender contract, checked on the baselines (every later model runs the same checks)."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from reclab.data import leave_last_out, make_synthetic
from reclab.models import NotFittedError, Popularity, Random


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=60, n_items=40, seed=2))


def test_unfitted_use_says_call_fit():
    with pytest.raises(NotFittedError, match=r"Popularity is not fitted yet; call fit\(train\) first"):
        Popularity().recommend(0)


def test_init_is_keyword_only_and_only_stores():
    with pytest.raises(TypeError):
        Random(3)
    model = Random(seed=3)
    assert model.get_params() == {"seed": 3} and not hasattr(model, "n_items_")


def test_popularity_against_brute_force_counts(split):
    model = Popularity().fit(split.train)
    counts = np.zeros(split.train.n_items)
    for u, i in set(zip(split.train.ratings["user"], split.train.ratings["item"])):
        counts[i] += 1
    for u in range(5):
        seen = set(split.train.ratings["item"][split.train.ratings["user"] == u])
        ranked = sorted((i for i in range(len(counts)) if i not in seen), key=lambda i: (-counts[i], i))
        items, scores = model.recommend(u, k=7)
        assert items.tolist() == ranked[:7]
        assert scores.tolist() == [counts[i] for i in ranked[:7]]


def test_shapes_one_user_vs_many(split):
    model = Random(seed=1).fit(split.train)
    items, scores = model.recommend(3, k=5)
    assert items.shape == scores.shape == (5,)
    items2, _ = model.recommend([3, 4], k=5)
    assert items2.shape == (2, 5) and items2[0].tolist() == items.tolist()  # same user, same list
    assert model.score([0, 1, 2]).shape == (3, split.train.n_items)


def test_recommend_excludes_seen_unless_asked(split):
    model = Popularity().fit(split.train)
    seen = split.train.to_csr("binary")
    items, _ = model.recommend(np.arange(10), k=10)
    for u in range(10):
        assert not set(items[u]) & set(seen[u].indices)
    everything, _ = model.recommend(0, k=split.train.n_items, exclude_seen=False)
    assert sorted(everything.tolist()) == list(range(split.train.n_items))


@pytest.mark.parametrize("users, error", [(-1, KeyError), (10_000, KeyError), (1.5, ValueError), ([[0]], ValueError)])
def test_bad_user_ids(split, users, error):
    with pytest.raises(error, match="user"):
        Popularity().fit(split.train).recommend(users)


@pytest.mark.parametrize("k", [0, -3, 41, 2.0, True])
def test_bad_k_names_the_value(split, k):
    with pytest.raises(ValueError, match=rf"k={k!r} must be an int from 1 to 40"):
        Popularity().fit(split.train).recommend(0, k=k)


def test_similar_items_needs_item_vectors(split):
    with pytest.raises(NotImplementedError, match="Popularity has no item representation"):
        Popularity().fit(split.train).similar_items(0)


def test_fit_rejects_empty_or_wrong_data(split):
    with pytest.raises(ValueError, match="train has no interactions"):
        Popularity().fit(split.train.with_ratings(split.train.ratings.iloc[:0]))
    with pytest.raises(TypeError, match="train must be an Interactions"):
        Popularity().fit(split.train.ratings)


def test_save_load_round_trip_without_pickle(split, tmp_path):
    model = Popularity(by="ratings").fit(split.train)
    path = model.save(tmp_path / "pop.npz")
    with zipfile.ZipFile(path) as z:  # plain arrays only: nothing that needs unpickling
        for name in z.namelist():
            assert z.read(name)[:6] == b"\x93NUMPY"
    loaded = Popularity.load(path)
    assert loaded.get_params() == {"by": "ratings"}
    for a, b in zip(model.recommend(np.arange(20)), loaded.recommend(np.arange(20))):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"holds a Popularity model; load it with Popularity\.load"):
        Random.load(path)
