"""Popularity-bias measures against hand counts."""
from __future__ import annotations

import numpy as np
import pytest

from reclab.bias import exposure_by_bin, popularity_bias


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
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_docstring_examples_of_the_beyond_accuracy_modules_hold():
    import doctest

    import reclab.bias
    import reclab.rerank
    import reclab.stats

    for module in (reclab.bias, reclab.rerank, reclab.stats):
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
