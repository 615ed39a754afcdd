"""MarkovChain: counts against a brute-force dict, the planted successor, the valid rule, the contract."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import MarkovChain, NotFittedError, Popularity
from reclab.models.markov import transition_counts


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_users=200, n_items=60, p_follow=0.8, seed=3)


@pytest.fixture(scope="module")
def split(data):
    return leave_last_out(data)


def _brute_force_counts(data: Interactions) -> Counter:
    """Walk each user's ratings sorted by (timestamp, row) and count consecutive pairs."""
    counts = Counter()
    r = data.ratings.assign(row=np.arange(len(data)))
    for _, group in r.sort_values(["user", "timestamp", "row"]).groupby("user"):
        items = group["item"].tolist()
        counts.update(zip(items[:-1], items[1:]))
    return counts


def test_transition_counts_match_a_dict_count(split):
    model = MarkovChain().fit(split.train)
    expected = _brute_force_counts(split.train)
    got = model.transitions_.tocoo()
    assert dict(zip(zip(got.row.tolist(), got.col.tolist()), got.data.tolist())) == dict(expected)


def test_transition_counts_do_not_cross_users():
    assert transition_counts([np.array([0, 1]), np.array([2]), np.array([2, 0])], 3).toarray().tolist() == [
        [0, 1, 0], [0, 0, 0], [1, 0, 0]]


def test_scores_are_the_smoothed_row_of_the_last_item(split):
    model = MarkovChain(smoothing=0.5, backoff=2.0).fit(split.train)
    counts = _brute_force_counts(split.train)
    item_counts = Counter(split.train.ratings["item"].tolist())
    pop = np.array([item_counts[j] for j in range(split.train.n_items)]) / len(split.train)
    n = split.train.n_items
    for u in range(4):
        last = split.train.sequences()[u][-1]
        row = np.array([counts[(last, j)] for j in range(n)], dtype=float)
        expected = (row + 0.5 + 2.0 * pop) / (row.sum() + 0.5 * n + 2.0)
        np.testing.assert_allclose(model.score(u)[0], expected, rtol=1e-5)
        assert np.isclose(expected.sum(), 1.0)  # a probability distribution over the next item


def test_recovers_the_planted_successor(data):
    model = MarkovChain().fit(data)
    truth = data.items["next_item"].to_numpy()
    top1 = np.array([model.transitions_[i].toarray().argmax() for i in range(data.n_items)])
    assert (top1 == truth).mean() >= 0.9


def test_beats_popularity_on_the_planted_chain(split):
    ndcg = {}
    for name, model in {"markov": MarkovChain(), "pop": Popularity()}.items():
        result = evaluate(model.fit(split.train, valid=split.valid), split, metrics=("NDCG",))
        ndcg[name] = result["value"].item()
    assert ndcg["markov"] > 2 * ndcg["pop"]


def test_last_item_is_train_only_or_train_plus_valid(split):
    seqs = split.train.sequences()
    alone = MarkovChain().fit(split.train)
    with_valid = MarkovChain().fit(split.train, valid=split.valid)
    valid_item = dict(zip(split.valid.ratings["user"], split.valid.ratings["item"]))
    for u in range(split.train.n_users):
        assert alone.last_item_[u] == seqs[u][-1]
        assert with_valid.last_item_[u] == valid_item.get(u, seqs[u][-1])
    # the transitions stay those of train
    assert (alone.transitions_ != with_valid.transitions_).nnz == 0
    # a user's scores are the (backed-off) row of the valid item, not of the last train item
    u = next(u for u, i in valid_item.items() if i != seqs[u][-1])
    row = alone.transitions_[valid_item[u]].toarray()[0]
    expected = (row + alone.popularity_) / (row.sum() + 1.0)
    np.testing.assert_allclose(with_valid.score(u)[0], expected, rtol=1e-5)


def test_valid_ties_keep_train_first():
    ratings = pd.DataFrame({"user_id": [0, 0, 0], "item_id": [0, 1, 2], "rating": 1.0, "timestamp": [5, 7, 7]})
    data = Interactions.from_frames(ratings)
    train, valid = data.with_ratings(data.ratings.iloc[[0, 2]]), data.with_ratings(data.ratings.iloc[[1]])
    # item 1 (valid) and item 2 (train) share a timestamp: valid counts as later
    assert MarkovChain().fit(train, valid=valid).last_item_.tolist() == [1]


def test_user_without_history_gets_popularity():
    ratings = pd.DataFrame({"user_id": [0, 0, 0, 1], "item_id": [0, 1, 1, 2], "rating": 1.0, "timestamp": [1, 2, 3, 4]})
    users = pd.DataFrame({"user_id": [0, 1, 2]})
    model = MarkovChain(backoff=0.0).fit(Interactions.from_frames(ratings, users=users))
    np.testing.assert_allclose(model.score(2)[0], [0.25, 0.5, 0.25])
    # item 2 has no successor and no pseudo-counts: popularity again
    np.testing.assert_allclose(model.score(1)[0], [0.25, 0.5, 0.25])


def test_contract_shapes_exclude_seen_and_save_load(split, tmp_path):
    model = MarkovChain(smoothing=0.1).fit(split.train, valid=split.valid)
    items, scores = model.recommend([0, 1, 2], k=5)
    assert items.shape == scores.shape == (3, 5)
    seen = split.train.to_csr("binary")
    assert all(not set(items[u]) & set(seen[u].indices) for u in range(3))
    loaded = MarkovChain.load(model.save(tmp_path / "markov.npz"))
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.recommend(np.arange(20), k=10)[0], model.recommend(np.arange(20), k=10)[0])
    assert model.similar_items(0, k=3)[0].shape == (3,)


def test_repeatable(split):
    a = MarkovChain().fit(split.train).score(np.arange(10))
    b = MarkovChain().fit(split.train).score(np.arange(10))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, word", [
    ({"smoothing": -1.0}, "smoothing=-1.0"),
    ({"backoff": "pop"}, "backoff='pop'"),
    ({"backoff": float("inf")}, "backoff=inf"),
])
def test_bad_parameters_are_named(split, kwargs, word):
    with pytest.raises(ValueError, match=word):
        MarkovChain(**kwargs).fit(split.train)


def test_valid_from_another_dataset_is_refused(split):
    other = make_synthetic(n_users=10, n_items=20, seed=0)
    with pytest.raises(ValueError, match="same split"):
        MarkovChain().fit(split.train, valid=other)


def test_unfitted():
    with pytest.raises(NotFittedError):
        MarkovChain().score(0)
