"""Privacy: the attribute attack on planted data, BlurMe's added rows, exact forgetting."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reclab.data import Interactions
from reclab.models import EASE
from reclab.privacy import attribute_inference, blurme, forget


@pytest.fixture(scope="module")
def planted():
    """60 users, 30 items: group A rates mostly items 0-9, group B mostly 10-19, both some of 20-29."""
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for u in range(60):
        group = "A" if u % 3 else "B"  # 40 A, 20 B
        labels.append(group)
        own = np.arange(10) if group == "A" else np.arange(10, 20)
        items = np.concatenate([rng.choice(own, 6, replace=False), rng.choice(np.arange(20, 30), 3, replace=False)])
        for t, i in enumerate(items):
            rows.append((u, int(i), float(rng.integers(1, 6)), 1000 * u + t))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return Interactions.from_frames(frame, items=pd.DataFrame({"item_id": np.arange(30)})), np.array(labels)


def test_the_attack_reads_a_planted_attribute_and_not_a_random_one(planted):
    train, labels = planted
    result = attribute_inference(train, labels)
    assert result["majority"] == pytest.approx(40 / 60)
    assert result["accuracy"] > 0.95
    shuffled = np.random.default_rng(1).permutation(labels)
    assert attribute_inference(train, shuffled)["accuracy"] < result["majority"] + 0.15


def test_blurme_adds_unrated_items_of_the_other_group(planted):
    train, labels = planted
    blurred = blurme(train, labels, share=0.3)
    before, after = train.ratings, blurred.ratings
    added = after.iloc[len(before):]
    for u, rows in added.groupby("user"):
        mine = before[before["user"] == u]
        assert len(rows) == int(np.ceil(0.3 * mine["item"].nunique()))  # ceil(0.3 * 9) = 3
        assert not set(rows["item"]) & set(mine["item"])
        other_block = range(10, 20) if labels[u] == "A" else range(10)
        assert set(rows["item"]) <= set(other_block)
        assert (rows["rating"] == mine["rating"].mean()).all() and (rows["timestamp"] == mine["timestamp"].max()).all()
    columns = ["user", "item", "rating", "timestamp"]
    kept = after.iloc[: len(before)][columns].reset_index(drop=True)
    assert kept.equals(before[columns].reset_index(drop=True))  # the user's own ratings stay as they were


def test_an_attacker_trained_on_honest_profiles_is_fooled(planted):
    train, labels = planted
    honest = attribute_inference(train, labels)["accuracy"]
    fooled = attribute_inference(train, labels, attacked=blurme(train, labels, share=1.0))["accuracy"]
    assert fooled < honest - 0.3


def test_forgetting_is_exact(planted):
    train, _ = planted
    gone = forget(train, [3, 7])
    assert not gone.ratings["user"].isin([3, 7]).any() and len(gone) == len(train) - 18
    r = train.ratings
    never = train.with_ratings(r[(r["user"] != 3) & (r["user"] != 7)])  # a log that never held them
    np.testing.assert_array_equal(EASE(reg=2.0).fit(gone).B_, EASE(reg=2.0).fit(never).B_)
    assert not np.allclose(EASE(reg=2.0).fit(train).B_, EASE(reg=2.0).fit(gone).B_)  # they had an influence


@pytest.mark.parametrize("call, message", [
    (lambda t, y: attribute_inference(t, y[:10]), "labels has 10 entries"),
    (lambda t, y: attribute_inference(t, np.arange(60) % 3), "exactly two groups"),
    (lambda t, y: blurme(t, y, share=0.0), "share=0.0"),
    (lambda t, y: forget(t, [60]), r"users \[60\]"),
])
def test_bad_input_is_named(planted, call, message):
    with pytest.raises(ValueError, match=message):
        call(*planted)
