"""Splits: nothing lost or duplicated, no future in training, leave-last-out takes the latest."""
from __future__ import annotations

import math
import warnings
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


def warned(call, *args, **kwargs):
    """``(result, messages)``: the call's result and the text of every warning it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kwargs)
    return result, [str(w.message) for w in caught]


def fraction_cut_is_first(rows, valid_frac, test_frac) -> bool:
    """By hand, from the docstring's rule: does the first cut land on the earliest timestamp?"""
    ts = sorted(t for _, _, t in rows)
    n = len(ts)
    if not valid_frac and not test_frac:
        return False  # no cut: everything is train
    k = math.floor(n * (1 - test_frac - valid_frac)) if valid_frac else math.floor(n * (1 - test_frac))
    return ts[min(n - 1, k)] == ts[0]


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
    split, messages = warned(leave_last_out, data)
    assert_partition(data, split)
    most = max(Counter(u for u, _, _ in rows).values())
    assert any("no user" in m and "empty" in m for m in messages) == (most < 3)
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
    if fraction_cut_is_first(rows, valid_frac, test_frac):  # train would be empty: refused
        with pytest.raises(ValueError, match="train part would be empty|share one timestamp"):
            temporal_split(data, valid_frac, test_frac)
        return
    split, messages = warned(temporal_split, data, valid_frac, test_frac)
    assert_partition(data, split)
    assert len(split.train) > 0
    assert any("empty valid part" in m for m in messages) == (valid_frac > 0 and len(split.valid) == 0)
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
    want_train = [pos for pos, (_, _, t) in enumerate(rows) if t < valid_start]
    want_test = [pos for pos, (_, _, t) in enumerate(rows) if t >= test_start]
    want_valid = [pos for pos, (_, _, t) in enumerate(rows) if valid_start <= t < test_start]
    if not want_train:  # an empty train part is never a meaningful split
        with pytest.raises(ValueError, match="train part would be empty|share one timestamp"):
            temporal_split(data, valid_start=valid_start, test_start=test_start)
        return
    if not want_test:
        with pytest.raises(ValueError, match=f"test_start={test_start} is after the last rating"):
            temporal_split(data, valid_start=valid_start, test_start=test_start)
        return
    split, messages = warned(temporal_split, data, valid_start=valid_start, test_start=test_start)
    assert_partition(data, split)
    assert row_ids(split.test) == want_test and row_ids(split.valid) == want_valid
    assert any("empty valid part" in m for m in messages) == (valid_start < test_start and not want_valid)


@settings(max_examples=100, deadline=None)
@given(rows, st.floats(0, 0.45), st.floats(0, 0.45), st.integers(0, 3))
def test_random_split_exact_sizes_and_seeded(rows, valid_frac, test_frac, seed):
    data = build(rows)
    if round(len(rows) * test_frac) + round(len(rows) * valid_frac) >= len(rows):
        with pytest.raises(ValueError, match="leaving train empty"):
            random_split(data, valid_frac, test_frac, seed=seed)
        return
    split, _ = warned(random_split, data, valid_frac, test_frac, seed=seed)
    assert_partition(data, split)
    assert len(split.test) == round(len(data) * test_frac)
    assert len(split.valid) == round(len(data) * valid_frac)
    again, _ = warned(random_split, data, valid_frac, test_frac, seed=seed)
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
    split, _ = warned(leave_last_out, build(rows))
    train = split.train.ratings["timestamp"].tolist()
    want = [sum(t > s for t in train) / max(1, len(train)) for s in split.test.ratings["timestamp"]]
    np.testing.assert_allclose(future_share(split), want)
    if len(split.test) and len(train) and not fraction_cut_is_first(rows, 0.2, 0.3):
        temporal, _ = warned(temporal_split, build(rows), 0.2, 0.3)
        assert (future_share(temporal) == 0).all()
