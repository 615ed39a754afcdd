"""MarkovChain: counts against a brute-force dict, the planted successor, the last item of the history
given, the contract."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from reclab import evaluate
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import MarkovChain, NotFittedError, Popularity
from reclab.models.markov import last_items, transition_counts


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


def smoothed_row(counts: Counter, last: int, pop: np.ndarray, smoothing: float, backoff: float) -> np.ndarray:
    """P(j | last) by hand from the dict of pair counts."""
    n = len(pop)
    row = np.array([counts[(last, j)] for j in range(n)], dtype=float)
    return (row + smoothing + backoff * pop) / (row.sum() + smoothing * n + backoff)


def train_popularity(train: Interactions) -> np.ndarray:
    item_counts = Counter(train.ratings["item"].tolist())
    return np.array([item_counts[j] for j in range(train.n_items)]) / len(train)


def test_the_last_item_comes_from_the_history_given(split):
    """One fit: scored from train the row of the last train item, from train + valid that of the valid item."""
    model = MarkovChain(smoothing=0.2).fit(split.train)
    counts, pop = _brute_force_counts(split.train), train_popularity(split.train)  # learned from train only
    seqs = split.train.sequences()
    valid_item = dict(zip(split.valid.ratings["user"], split.valid.ratings["item"]))
    assert model.last_item_.tolist() == [s[-1] for s in seqs]
    history = split.history("test")
    assert last_items(history).tolist() == [valid_item.get(u, seqs[u][-1]) for u in range(split.train.n_users)]
    users = [u for u, i in valid_item.items() if i != seqs[u][-1]][:5]
    assert users
    for u in users:
        np.testing.assert_allclose(model.score(u)[0], smoothed_row(counts, seqs[u][-1], pop, 0.2, 1.0), rtol=1e-5)
        want = smoothed_row(counts, valid_item[u], pop, 0.2, 1.0)
        np.testing.assert_allclose(model.score(u, history=history)[0], want, rtol=1e-5)
    # the transitions stay those of train, whatever the history scored from
    assert dict(zip(zip(*model.transitions_.nonzero()), model.transitions_.data.tolist())) == dict(counts)


def test_one_new_event_moves_the_user_to_its_row(split):
    model = MarkovChain(smoothing=0.0, backoff=1.0).fit(split.train)
    counts, pop = _brute_force_counts(split.train), train_popularity(split.train)
    u, item = 3, 17
    later = int(split.train.ratings["timestamp"].max()) + 1
    event = pd.DataFrame({"user": np.int32([u]), "item": np.int32([item]), "rating": np.float32([4.0]),
                          "timestamp": np.int64([later])})
    history = split.train.with_ratings(pd.concat([split.train.ratings, event], ignore_index=True))
    np.testing.assert_allclose(model.score(u, history=history)[0], smoothed_row(counts, item, pop, 0.0, 1.0), rtol=1e-5)
    assert np.abs(model.score(u, history=history) - model.score(u)).max() > 1e-3  # a real change: another row
    others = [v for v in range(10) if v != u]
    np.testing.assert_array_equal(model.score(others, history=history), model.score(others))
    assert item not in model.recommend(u, k=10, history=history)[0]  # the history's items are masked
    # an event *earlier* than the user's last one does not change the last item
    stamps = np.r_[split.train.ratings["timestamp"].to_numpy(), -1]
    early = history.with_ratings(history.ratings.assign(timestamp=stamps))
    np.testing.assert_array_equal(model.score(u, history=early), model.score(u))


def test_history_ties_keep_the_earlier_part_first():
    ratings = pd.DataFrame({"user_id": [0, 0, 0, 1, 1], "item_id": [0, 1, 2, 1, 0], "rating": 1.0,
                            "timestamp": [5, 7, 7, 1, 2]})
    data = Interactions.from_frames(ratings)
    train, valid = data.with_ratings(data.ratings.iloc[[0, 2, 3, 4]]), data.with_ratings(data.ratings.iloc[[1]])
    # item 1 (valid) and item 2 (train) share a timestamp: valid counts as later in train.then(valid)
    assert last_items(train).tolist() == [2, 0] and last_items(train.then(valid)).tolist() == [1, 0]
    model = MarkovChain(backoff=0.0, smoothing=0.0).fit(train)  # counts: 0 -> 2 (user 0), 1 -> 0 (user 1)
    np.testing.assert_allclose(model.score(0, history=train.then(valid))[0], [1, 0, 0])  # the row of item 1
    np.testing.assert_allclose(model.score(0)[0], [0.5, 0.25, 0.25])  # item 2 has no successor: popularity


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
    ({"smoothing": -1.0}, "smoothing=-1.0 is not valid: it must be a finite number >= 0"),
    ({"backoff": "pop"}, "backoff='pop' is not valid"),
    ({"backoff": float("inf")}, "backoff=inf is not valid"),
    ({"smoothing": True}, "smoothing=True is not valid"),
])
def test_bad_parameters_are_named(split, kwargs, word):
    with pytest.raises(ValueError, match=word):
        MarkovChain(**kwargs).fit(split.train)


def test_numpy_numbers_are_accepted(split):
    a = MarkovChain(smoothing=np.int64(1), backoff=np.float32(2.0)).fit(split.train).score(np.arange(5))
    b = MarkovChain(smoothing=1.0, backoff=2.0).fit(split.train).score(np.arange(5))
    np.testing.assert_allclose(a, b)
    assert a.dtype == np.float32


def test_valid_from_another_dataset_is_refused(split):
    other = make_synthetic(n_users=10, n_items=20, seed=0)
    with pytest.raises(ValueError, match="same split"):
        MarkovChain().fit(split.train, valid=other)


def test_unfitted():
    with pytest.raises(NotFittedError):
        MarkovChain().score(0)
