"""Splits: nothing lost or duplicated, no future in training, leave-last-out takes the latest."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclab.data import Interactions, future_share, leave_last_out, load_movielens, random_split, temporal_split

# each row carries a unique "rating" (its position in the file) so a row can be traced through a split
rows = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 5), st.integers(0, 4)),  # user, item, timestamp (many ties)
    min_size=1,
    max_size=40,
)


def build(rows) -> Interactions:
    users, items, ts = zip(*rows)
    frame = pd.DataFrame(
        {"user_id": users, "item_id": items, "rating": np.arange(len(rows), dtype=float), "timestamp": ts}
    )
    return Interactions.from_frames(frame)


def row_ids(part: Interactions) -> list[int]:
    return part.ratings["rating"].astype(int).tolist()


def assert_partition(data, split):
    ids = row_ids(split.train) + row_ids(split.valid) + row_ids(split.test)
    assert Counter(ids) == Counter(range(len(data)))  # every rating in exactly one part
    for part in (split.train, split.valid, split.test):
        assert (part.n_users, part.n_items) == (data.n_users, data.n_items)
        ids = row_ids(part)
        assert ids == sorted(ids)  # file order kept


@settings(max_examples=150, deadline=None)
@given(rows)
def test_leave_last_out_against_brute_force(rows):
    data = build(rows)
    split = leave_last_out(data)
    assert_partition(data, split)
    by_user = {}
    for pos, (u, _, t) in enumerate(rows):
        by_user.setdefault(u, []).append((t, pos))
    want_test, want_valid = [], []
    for events in by_user.values():
        events.sort()  # latest = largest timestamp, ties broken by file position
        if len(events) >= 2:
            want_test.append(events[-1][1])
        if len(events) >= 3:
            want_valid.append(events[-2][1])
    assert row_ids(split.test) == sorted(want_test)
    assert row_ids(split.valid) == sorted(want_valid)


@settings(max_examples=150, deadline=None)
@given(rows, st.floats(0, 0.45), st.floats(0, 0.45))
def test_temporal_split_has_no_future_in_training(rows, valid_frac, test_frac):
    data = build(rows)
    split = temporal_split(data, valid_frac, test_frac)
    assert_partition(data, split)
    t = {name: getattr(split, name).ratings["timestamp"] for name in ("train", "valid", "test")}
    if len(t["train"]) and len(t["valid"]):
        assert t["train"].max() < t["valid"].min()
    if len(t["valid"]) and len(t["test"]):
        assert t["valid"].max() < t["test"].min()
    if len(t["train"]) and len(t["test"]):
        assert t["train"].max() < t["test"].min()


@settings(max_examples=100, deadline=None)
@given(rows, st.integers(0, 4), st.integers(0, 4))
def test_temporal_split_at_given_times(rows, a, b):
    valid_start, test_start = min(a, b), max(a, b)
    data = build(rows)
    split = temporal_split(data, valid_start=valid_start, test_start=test_start)
    assert_partition(data, split)
    want_test = [pos for pos, (_, _, t) in enumerate(rows) if t >= test_start]
    want_valid = [pos for pos, (_, _, t) in enumerate(rows) if valid_start <= t < test_start]
    assert row_ids(split.test) == want_test and row_ids(split.valid) == want_valid


@settings(max_examples=100, deadline=None)
@given(rows, st.floats(0, 0.45), st.floats(0, 0.45), st.integers(0, 3))
def test_random_split_exact_sizes_and_seeded(rows, valid_frac, test_frac, seed):
    data = build(rows)
    split = random_split(data, valid_frac, test_frac, seed=seed)
    assert_partition(data, split)
    assert len(split.test) == round(len(data) * test_frac)
    assert len(split.valid) == round(len(data) * valid_frac)
    again = random_split(data, valid_frac, test_frac, seed=seed)
    assert row_ids(again.test) == row_ids(split.test)


def test_split_arguments_are_checked():
    data = build([(0, 0, 0), (0, 1, 1)])
    with pytest.raises(ValueError, match=r"test_frac=1\.5 must be in \[0, 1\)"):
        temporal_split(data, test_frac=1.5)
    with pytest.raises(ValueError, match="leaves nothing to train on"):
        temporal_split(data, valid_frac=0.5, test_frac=0.5)
    with pytest.raises(ValueError, match="valid_start=3 is after test_start=1"):
        temporal_split(data, valid_start=3, test_start=1)
    with pytest.raises(ValueError, match=r"valid_frac=-0\.1"):
        random_split(data, valid_frac=-0.1)


def test_leave_last_out_on_ml100k():
    data = load_movielens("100k")
    split = leave_last_out(data)
    assert (len(split.valid), len(split.test), len(split.train)) == (943, 943, 98_114)
    # every user's test rating is at least as late as all their other ratings
    latest = data.ratings.groupby("user")["timestamp"].max()
    test = split.test.ratings.set_index("user")["timestamp"]
    assert (test == latest.loc[test.index]).all()
    valid = split.valid.ratings.set_index("user")["timestamp"]
    train_latest = split.train.ratings.groupby("user")["timestamp"].max()
    assert (valid <= test.loc[valid.index]).all() and (train_latest <= valid.loc[train_latest.index]).all()


@settings(max_examples=100, deadline=None)
@given(rows)
def test_future_share_against_brute_force(rows):
    split = leave_last_out(build(rows))
    train = split.train.ratings["timestamp"].tolist()
    want = [sum(t > s for t in train) / max(1, len(train)) for s in split.test.ratings["timestamp"]]
    np.testing.assert_allclose(future_share(split), want)
    if len(split.test) and len(train):
        assert (future_share(temporal_split(build(rows), 0.2, 0.3)) == 0).all()
