"""Metrics by user group: per-group means equal evaluate on that group alone; the group test's p-value."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reclab import evaluate
from reclab.data import Split, leave_last_out, make_synthetic
from reclab.fairness import age_bands, by_group
from reclab.models import EASE
from reclab.stats import group_test


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=120, n_items=40, seed=6))


def test_each_group_mean_is_evaluate_on_that_group_alone(split):
    model = EASE(reg=5.0).fit(split.train)
    groups = np.where(np.arange(split.train.n_users) % 3 == 0, "A", "B")
    table = by_group(model, split, groups)
    test = split.test.ratings
    for name in ("A", "B"):
        users = np.flatnonzero(groups == name)
        alone = Split(split.train, split.valid, split.test.with_ratings(test[test["user"].isin(users)]))
        row = evaluate(model, alone, 10, metrics=("NDCG",)).iloc[0]
        assert table.loc[name, "value"] == pytest.approx(row["value"])
        assert table.loc[name, "n_users"] == row["n_users"]
    assert table.loc["A", "gap"] == pytest.approx(table.loc["A", "value"] - table.loc["B", "value"])


def test_missing_labels_leave_users_out_and_bad_labels_are_named(split):
    model = EASE(reg=5.0).fit(split.train)
    groups = pd.Series(["x"] * split.train.n_users, dtype=object)
    groups[:30] = None
    table = by_group(model, split, groups)
    assert list(table.index) == ["x"] and table.loc["x", "n_users"] <= split.train.n_users - 30
    with pytest.raises(ValueError, match="groups has 5 labels"):
        by_group(model, split, ["a"] * 5)
    with pytest.raises(KeyError, match="groups='income' is not a column"):
        by_group(model, split, "income")
    with pytest.raises(ValueError, match="part='train'"):
        by_group(model, split, groups, part="train")


def test_group_test_separates_a_planted_gap_and_not_noise():
    rng = np.random.default_rng(0)
    planted = group_test(rng.normal(1.0, 1, 200), rng.normal(0.0, 1, 300), n_perm=2000)
    assert planted["p_value"] < 0.001 and planted["lo"] < 1.0 < planted["hi"]
    same = group_test(rng.normal(0, 1, 200), rng.normal(0, 1, 300), n_perm=2000)
    assert same["p_value"] > 0.05
    # exact permutation p-value on a tiny case: a = [1, 1], b = [0, 0]; of the 6 relabellings, 2 are as extreme
    tiny = group_test([1.0, 1.0], [0.0, 0.0], n_perm=20_000, seed=1)
    assert tiny["p_value"] == pytest.approx(2 / 6, abs=0.02)


def test_age_bands_follow_the_movielens_edges():
    assert list(age_bands([7, 18, 24, 25, 49, 50, 56, 73])) == [
        "under 18", "18-24", "18-24", "25-34", "45-49", "50-55", "56+", "56+"]


def test_a_column_name_reads_the_user_table(split):
    from dataclasses import replace

    from reclab.privacy import attribute_inference

    model = EASE(reg=5.0).fit(split.train)
    groups = np.where(np.arange(split.train.n_users) % 4 == 0, "A", "B")
    train = replace(split.train, users=pd.DataFrame({"group": groups}))
    named = by_group(model, Split(train, split.valid, split.test), "group")
    pd.testing.assert_frame_equal(named, by_group(model, split, groups))
    assert attribute_inference(train, "group") == attribute_inference(split.train, groups)
    with pytest.raises(KeyError, match=r"it has \['group'\]"):
        attribute_inference(train, "gender")
