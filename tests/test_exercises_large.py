"""Exercises of notebook 09: a right answer gives ✅, a stub ⬜, a wrong one ❌.

The right answers are computed here another way (loops, closed forms), not by the functions the
checkers call.
"""
from __future__ import annotations

import numpy as np
import pytest

import reclab.exercises.large  # noqa: F401  (registers the exercises)
from reclab.data import leave_last_out, make_synthetic
from reclab.exercises import EXERCISES
from reclab.models import SASRec


@pytest.fixture(scope="module")
def sasrec():
    split = leave_last_out(make_synthetic(n_users=40, n_items=25, seed=2))
    return SASRec(n_factors=8, n_blocks=2, n_heads=2, max_len=10, n_epochs=1, device="cpu").fit(split.train)


def loop_profile(vectors, sequence, half_life):
    out = np.zeros(vectors.shape[1])
    for t, item in enumerate(sequence):
        out += 2.0 ** (-(len(sequence) - 1 - t) / half_life) * vectors[item]
    return out


def cases(sasrec):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(6, 4))
    ids = np.array([[0, 1, 0], [0, 2, 0], [0, 2, 1], [1, 0, 0], [1, 3, 0]])
    x = np.array([1e3, 1e4, 1e5])
    d = 8
    return {
        "09-recency-profile": ((vectors, [2, 0, 5, 2], 2.0), loop_profile(vectors, [2, 0, 5, 2], 2.0)),
        "09-next-codes": ((ids, (0,)), [1, 2]),
        "09-non-embedding": ((sasrec,), 2 * (4 * d + 4 * d * d + 4 * d + 2 * d * d + 2 * d) + 2 * d),
        "09-scaling-exponent": ((x, 0.03 * x ** 0.2), 0.2),
    }


def wrong(answer):
    if isinstance(answer, np.ndarray):
        return answer + 1.0
    if isinstance(answer, list):
        return answer[:1]
    return answer + 1


def test_right_answers_are_accepted(sasrec):
    for name, (inputs, right) in cases(sasrec).items():
        assert EXERCISES[name].evaluate(right, *inputs).status == "correct", name


def test_wrong_answers_are_rejected_and_stubs_spotted(sasrec):
    for name, (inputs, right) in cases(sasrec).items():
        assert EXERCISES[name].evaluate(wrong(right), *inputs).status == "wrong", name
        assert EXERCISES[name].evaluate(..., *inputs).status == "not attempted", name


def test_next_codes_in_any_order_and_deeper_prefixes():
    ids = np.array([[0, 1, 0], [0, 2, 0], [0, 2, 1], [1, 0, 0]])
    exercise = EXERCISES["09-next-codes"]
    assert exercise.evaluate([2, 1], ids, (0,)).status == "correct"
    assert exercise.evaluate([0, 1], ids, (0, 2)).status == "correct"
    assert exercise.evaluate([0], ids, (0, 2)).status == "wrong"
