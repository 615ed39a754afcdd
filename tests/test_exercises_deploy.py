"""Exercises of notebook 11: a right answer gives ✅, a stub ⬜, a wrong one ❌.

The right answers are computed here with loops from the definitions, not by the functions the
checkers call.
"""
from __future__ import annotations

import numpy as np
import pytest

import reclab.exercises.deploy  # noqa: F401  (registers the exercises)
from reclab.exercises import EXERCISES


def loop_recall(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        shares.append(sum(1 for item in e if item in set(a)) / len(e))
    return sum(shares) / len(shares)


def cases():
    approx = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    exact = np.array([[4, 3, 9, 10], [5, 6, 7, 8]])
    g = np.arange(24, dtype=float).reshape(8, 3) ** 1.5
    first = [sum(g[r, c] for r in range(5)) / 5 for c in range(3)]
    second = [sum(g[r, c] for r in range(5, 8)) / 3 for c in range(3)]
    return {
        "11-recall": ((approx, exact), loop_recall(approx, exact)),  # (2/4 + 4/4) / 2 = 0.75
        "11-ddp-gradient": ((g, [5, 3]), np.array([(a + b) / 2 for a, b in zip(first, second)])),
        "11-score-memory": ((138_493, 26_744), 138_493 * 26_744 * 4 / 1024 ** 3),
    }


def test_the_worked_recall_is_three_quarters():
    assert loop_recall(*cases()["11-recall"][0]) == 0.75


@pytest.mark.parametrize("name", sorted(cases()))
def test_right_stub_and_wrong_answers(name):
    inputs, answer = cases()[name]
    exercise = EXERCISES[name]
    assert exercise.evaluate(answer, *inputs).status == "correct"
    assert exercise.evaluate(..., *inputs).status == "not attempted"
    wrong = answer * 1.1 + 0.01
    assert exercise.evaluate(wrong, *inputs).status == "wrong"


def test_uneven_slices_differ_from_the_plain_mean():
    g, sizes = cases()["11-ddp-gradient"][0]
    assert not np.allclose(EXERCISES["11-ddp-gradient"].solution(g, sizes), g.mean(axis=0))
    assert np.allclose(EXERCISES["11-ddp-gradient"].solution(g, [4, 4]), g.mean(axis=0))


def test_inputs_that_do_not_fit_are_reported_not_raised():
    assert EXERCISES["11-ddp-gradient"].evaluate(np.zeros(3), np.zeros((8, 3)), [5, 4]).status == "wrong"
    assert EXERCISES["11-recall"].evaluate(0.5, np.zeros((2, 3)), np.zeros((3, 3))).status == "wrong"
