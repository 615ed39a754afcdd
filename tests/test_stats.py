"""Intervals and paired tests: checked against closed forms, exact enumeration and simulation."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from reclab import compare, evaluate, leaderboard
from reclab.data import Interactions, leave_last_out, make_synthetic
from reclab.models import Popularity, Random
from reclab.stats import bootstrap_ci, paired_test


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    for sim in range(300):
        hits = (rng.random(200) < 0.3).astype(float)  # a hit rate of 0.3 on 200 users
        lo, hi = bootstrap_ci(hits, n_boot=400, seed=sim)
        covered += lo <= 0.3 <= hi
    assert 0.90 <= covered / 300 <= 0.985


def test_bootstrap_width_matches_the_normal_approximation():
    values = np.random.default_rng(2).normal(size=5000)
    lo, hi = bootstrap_ci(values, n_boot=2000)
    want = 2 * 1.959964 * values.std(ddof=1) / math.sqrt(len(values))
    assert hi - lo == pytest.approx(want, rel=0.1)
    assert lo < values.mean() < hi


def test_bootstrap_leaves_out_nans_and_is_seeded():
    values = np.random.default_rng(3).random(50)
    with_nans = np.concatenate([values, [np.nan] * 10])
    assert bootstrap_ci(with_nans, seed=4) == bootstrap_ci(values, seed=4)
    assert bootstrap_ci(values, seed=4) != bootstrap_ci(values, seed=5)
    assert all(math.isnan(x) for x in bootstrap_ci([np.nan, np.nan]))


def test_paired_p_value_matches_exact_enumeration_of_sign_flips():
    a = np.array([1, 0, 1, 1, 0.5, 1, 0, 1, 1, 0.2, 1, 0.7])
    b = np.array([0, 0, 1, 0, 0.1, 1, 0, 0, 1, 0.4, 0, 0.7])
    d = a - b
    flips = np.array(list(itertools.product([-1, 1], repeat=len(d))))
    exact = np.mean(np.abs((flips * d).mean(axis=1)) >= abs(d.mean()) - 1e-12)
    got = paired_test(a, b, n_perm=40_000)
    assert got["diff"] == pytest.approx(d.mean())
    assert got["p_value"] == pytest.approx(exact, abs=0.01)
    assert got["n_users"] == 12


def test_paired_test_extremes():
    same = np.random.default_rng(0).random(100)
    assert paired_test(same, same)["p_value"] == 1.0  # every flip is "as extreme" as a zero difference
    better = paired_test(np.ones(200), np.zeros(200), n_perm=999)
    assert better["p_value"] == pytest.approx(1 / 1000)
    assert better["lo"] == better["hi"] == better["diff"] == 1.0
    # users where either model has no value are left out of the pairing
    assert paired_test([1, np.nan, 0], [0, 1, np.nan])["n_users"] == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"ci": 1.5}, "ci=1.5"),
    ({"ci": 0}, "ci=0"),
    ({"n_perm": 0}, "n_perm=0"),
])
def test_paired_test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_test([1, 0], [0, 1], **kwargs)


def test_bad_shapes_and_bootstrap_arguments():
    with pytest.raises(ValueError, match="aligned"):
        paired_test([1, 0, 1], [0, 1])
    with pytest.raises(ValueError, match="n_boot=-1"):
        bootstrap_ci([1.0, 0.0], n_boot=-1)
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_ci(np.ones((2, 2)))


# ------------------------------------------------------------------------ through evaluate
@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=400, n_items=60, seed=7))


def per_user_hits(model, split, k):
    """HR@k per test user by brute force: rank the unseen items, look for the test item."""
    known = {}
    for part in (split.train, split.valid):
        for u, i in zip(part.ratings["user"], part.ratings["item"]):
            known.setdefault(u, set()).add(i)
    out = {}
    for u, i in zip(split.test.ratings["user"], split.test.ratings["item"]):
        if i in known.get(u, set()):
            continue
        scores = model.score([u])[0]
        ranked = sorted((j for j in range(len(scores)) if j not in known.get(u, set())), key=lambda j: (-scores[j], j))
        out[u] = float(i in ranked[:k])
    return pd.Series(out).sort_index()


def test_evaluate_interval_brackets_the_value_with_the_normal_width(split):
    pop = Popularity().fit(split.train)
    hits = per_user_hits(pop, split, 10)
    row = evaluate(pop, split, 10, metrics=("HR",)).iloc[0]
    assert row["value"] == pytest.approx(hits.mean())
    assert row["lo"] < row["value"] < row["hi"]
    want = 2 * 1.959964 * hits.std(ddof=1) / math.sqrt(len(hits))
    assert row["hi"] - row["lo"] == pytest.approx(want, rel=0.2)
    no_ci = evaluate(pop, split, 10, metrics=("HR", "Coverage"), ci=None)
    assert no_ci["lo"].isna().all() and no_ci["hi"].isna().all()


def test_compare_pairs_users_against_the_baseline(split):
    models = {"Popularity": Popularity().fit(split.train), "Random": Random(seed=1).fit(split.train)}
    table = compare(models, split, 10, metrics=("HR", "Coverage"), baseline="Popularity", n_perm=4000)
    hr = table[table["metric"] == "HR"].set_index("model")
    a, b = per_user_hits(models["Random"], split, 10), per_user_hits(models["Popularity"], split, 10)
    assert hr.loc["Random", "diff"] == pytest.approx(a.mean() - b.mean())
    assert hr.loc["Popularity", "diff"] == 0 and math.isnan(hr.loc["Popularity", "p_value"])
    # the same users, paired: the test on the brute-force per-user values gives the same p-value
    assert hr.loc["Random", "p_value"] == pytest.approx(paired_test(a.to_numpy(), b.to_numpy(), n_perm=4000)["p_value"])
    assert hr.loc["Random", "diff_lo"] < hr.loc["Random", "diff"] < hr.loc["Random", "diff_hi"]
    cov = table[table["metric"] == "Coverage"].set_index("model")
    assert cov.loc["Random", "diff"] == pytest.approx(cov.loc["Random", "value"] - cov.loc["Popularity", "value"])
    assert math.isnan(cov.loc["Random", "p_value"])
    board = leaderboard(table, k=10, intervals=True)
    assert list(board.columns) == ["HR@10", "HR@10 lo", "HR@10 hi", "HR@10 p", "Coverage@10"]
    with pytest.raises(ValueError, match="baseline='EASE' is not one of the models"):
        compare(models, split, baseline="EASE")
    with pytest.raises(TypeError, match="unexpected keyword"):
        compare(models, split, metric=("HR",))


def test_novelty_counts_users_not_ratings():
    # user 0 rated item 0 three times: item 0 has 3 ratings but 1 user, like item 1
    ratings = pd.DataFrame({
        "user_id": [0, 0, 0, 1, 2, 2, 0, 1, 2, 0, 1, 2],
        "item_id": [0, 0, 0, 1, 2, 3, 4, 4, 4, 5, 5, 5],
        "rating": 1.0,
        "timestamp": [1, 2, 3, 4, 5, 6, 10, 10, 10, 20, 20, 20],
    })
    split = leave_last_out(Interactions.from_frames(ratings))

    class Fixed:
        def score(self, users):
            return np.tile(np.array([6.0, 5, 4, 3, 2, 1]), (len(users), 1))

    got = evaluate(Fixed(), split, 1, metrics=("Novelty",)).iloc[0]["value"]
    # top-1 unseen item per user: user 0 → item 1 (1 user of 3), user 1 → item 0 (1 of 3),
    # user 2 → item 0 (1 of 3): self-information log2(3) each
    assert got == pytest.approx(math.log2(3))
