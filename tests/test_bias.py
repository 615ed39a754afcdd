"""Popularity-bias measures against hand counts."""
from __future__ import annotations

import numpy as np
import pytest

from reclab.bias import exposure_by_bin, ips_mean, popularity_bias


def test_arp_and_long_tail_share_by_hand():
    counts = [50, 40, 30, 20, 10, 5, 4, 3, 2, 1]  # head=0.2: items 0 and 1
    lists = [[0, 5, -1], [1, 2, 9]]
    got = popularity_bias(lists, counts, head=0.2)
    shown = [0, 5, 1, 2, 9]
    assert got["ARP"] == pytest.approx(np.mean([counts[i] for i in shown]))
    assert got["long-tail share"] == pytest.approx(3 / 5)


def test_ties_in_the_head_go_by_id():
    assert popularity_bias([[1]], [5, 5, 5, 5, 5], head=0.2)["long-tail share"] == 1.0  # item 0 is the head
    assert popularity_bias([[0]], [5, 5, 5, 5, 5], head=0.2)["long-tail share"] == 0.0


def test_exposure_by_bin_by_hand():
    counts = [1, 9, 3, 7, 5, 0]  # by popularity: 1, 3, 4, 2, 0, 5 -> bins [1, 3], [4, 2], [0, 5]
    table = exposure_by_bin([[1, 3, 4], [1, 0, -1]], counts, n_bins=3)
    np.testing.assert_allclose(table["exposure"], [3 / 5, 1 / 5, 1 / 5])
    np.testing.assert_allclose(table["catalogue share"], [1 / 3] * 3)
    np.testing.assert_allclose(table["ratio"], [1.8, 0.6, 0.6])
    assert table["exposure"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("call, message", [
    (lambda: popularity_bias([[0]], [1, 2], head=1.5), "head=1.5"),
    (lambda: popularity_bias([[5]], [1, 2]), "item 5"),
    (lambda: popularity_bias([[-1]], [1, 2]), "no item"),
    (lambda: exposure_by_bin([[0]], [1, 2], n_bins=3), "n_bins=3 exceeds"),
    (lambda: exposure_by_bin([[0]], [[1, 2]]), "1-D"),
    (lambda: ips_mean([1.0], [0], [0, 3]), "item_counts 0"),
    (lambda: ips_mean([1.0], [2], [1, 3]), r"int ids in \[0, 2\)"),
    (lambda: ips_mean([1.0, 0.0], [0], [1, 3]), "one length"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_docstring_examples_of_the_beyond_accuracy_modules_hold():
    import doctest

    import reclab.attacks
    import reclab.bias
    import reclab.rerank
    import reclab.stats

    for module in (reclab.attacks, reclab.bias, reclab.rerank, reclab.stats):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_feedback_loop_adds_what_is_accepted_and_measures_each_rounds_lists():
    from reclab import metrics
    from reclab.bias import feedback_loop
    from reclab.data import make_synthetic
    from reclab.models import Popularity

    train = make_synthetic(n_users=30, n_items=60, length=(3, 6), seed=2)
    first, _ = Popularity().fit(train).recommend(np.arange(30), k=4)
    none = feedback_loop(Popularity, train, rounds=2, k=4, accept=0.0)
    assert (none["added"] == 0).all() and none["gini"].nunique() == 1  # nothing accepted, nothing changes
    assert none.loc[0, "gini"] == pytest.approx(metrics.gini(first, 60))
    assert none.loc[0, "coverage"] == pytest.approx(metrics.coverage(first, 60))
    assert none.loc[0, "ARP"] == pytest.approx(popularity_bias(first, train.item_counts())["ARP"])
    everything = feedback_loop(Popularity, train, rounds=2, k=4, accept=1.0)
    assert (everything["added"] == 30 * 4).all()
    with pytest.raises(ValueError, match="accept=1.5"):
        feedback_loop(Popularity, train, accept=1.5)


def test_ips_mean_by_hand_and_at_power_zero():
    from reclab.bias import ips_mean

    assert ips_mean([1, 0, 1], [0, 1, 2], [4, 1, 1], power=1.0) == pytest.approx((1 / 4 + 1) / (1 / 4 + 1 + 1))
    assert ips_mean([1, 0, 1], [0, 1, 2], [9, 1, 4], power=0.5) == pytest.approx((1 / 3 + 1 / 2) / (1 / 3 + 1 + 1 / 2))
    assert ips_mean([0.2, 0.4, np.nan], [0, 0, 1], [7, 1], power=0.0) == pytest.approx(0.3)  # plain mean, NaN out


def test_ips_recovers_the_metric_of_uniform_observation_where_the_plain_mean_is_biased():
    """Every user likes the same 10 items and gets the same list holding items 0-4, the popular half.
    If the held-out item were drawn uniformly from the 10, HR would be 1/2. It is drawn with
    probability proportional to popularity ** power instead; the plain mean then tends to the
    popularity-weighted share of the listed items and the IPS mean (same power) to 1/2."""
    from reclab.bias import ips_mean

    popularity = np.array([100, 80, 60, 50, 40, 10, 8, 6, 4, 2], dtype=float)
    rng = np.random.default_rng(0)
    for power in (0.5, 1.0):
        p = popularity ** power / (popularity ** power).sum()
        held_out = rng.choice(10, size=40_000, p=p)
        hits = (held_out < 5).astype(float)
        assert hits.mean() == pytest.approx(p[:5].sum(), abs=0.01)
        assert p[:5].sum() > 0.7  # so the plain mean is far from 1/2
        assert ips_mean(hits, held_out, popularity, power=power) == pytest.approx(0.5, abs=0.01)


def test_ips_evaluate_against_evaluate_and_a_direct_weighting():
    from reclab import evaluate
    from reclab.bias import ips_evaluate
    from reclab.data import leave_last_out, make_synthetic
    from reclab.models import ItemKNN, Popularity

    split = leave_last_out(make_synthetic(n_users=60, n_items=40, length=(5, 12), seed=3))
    models = {"Popularity": Popularity().fit(split.train), "ItemKNN": ItemKNN().fit(split.train)}
    table = ips_evaluate(models, split, k=5, metrics=("HR", "NDCG"), power=1.0)
    history, test = split.history("test"), split.test.ratings
    seen = np.asarray(history.binary()[test["user"].to_numpy(), test["item"].to_numpy()]).ravel() > 0
    test = test[~seen]  # a held-out item already in the history is masked, so not evaluated
    assert 10 < len(test) < 60
    counts = np.asarray(history.then(split.test).binary().sum(axis=0)).ravel()
    for name, model in models.items():
        plain = evaluate(model, split, k=5, metrics=("HR", "NDCG")).set_index("metric")["value"]
        assert table.loc[name, "HR@5"] == pytest.approx(plain["HR"])
        lists, _ = model.recommend(test["user"].to_numpy(), k=5, history=history)
        hits = (lists == test["item"].to_numpy()[:, None]).any(axis=1)
        w = 1 / counts[test["item"].to_numpy()]
        assert table.loc[name, "HR@5 IPS"] == pytest.approx((w * hits).sum() / w.sum())
    lists = {"lists": models["ItemKNN"].recommend(np.arange(60), k=5, history=history)[0]}
    assert ips_evaluate(lists, split, k=5, power=1.0).loc["lists", "NDCG@5 IPS"] == pytest.approx(
        table.loc["ItemKNN", "NDCG@5 IPS"])
    with pytest.raises(ValueError, match="power=-1"):
        ips_evaluate(models, split, power=-1)
