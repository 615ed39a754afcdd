"""Exercises of notebook 10: a right answer gives ✅, a stub ⬜, a wrong one ❌.

The right answers are computed here with loops from the definitions, not by the functions the
checkers call.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import reclab.exercises.beyond  # noqa: F401  (registers the exercises)
from reclab.data import leave_last_out, make_synthetic
from reclab.exercises import EXERCISES
from reclab.models import EASE


@pytest.fixture(scope="module")
def fitted():
    split = leave_last_out(make_synthetic(n_users=40, n_items=25, seed=2))
    return split, EASE(reg=10.0).fit(split.train)


def loop_top_term(model, train, user, item):
    X = train.binary().toarray()
    terms = {j: X[user, j] * model.B_[j, item] for j in range(X.shape[1]) if X[user, j]}
    return max(terms, key=terms.get)


def loop_ild(items, F):
    pairs = [(a, b) for a, b in itertools.combinations(items, 2)]
    cos = [F[a] @ F[b] / np.linalg.norm(F[a]) / np.linalg.norm(F[b]) for a, b in pairs]
    return float(np.mean([1 - c for c in cos]))


def loop_kl(items, G, target):
    q = np.mean([G[i] / G[i].sum() for i in items], axis=0)
    p = target / target.sum()
    q = 0.99 * q + 0.01 * p
    return float(sum(p[g] * np.log(p[g] / q[g]) for g in range(len(p)) if p[g] > 0))


def cases(fitted):
    split, model = fitted
    G = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=float)
    target = np.array([0.5, 0.3, 0.2])
    values, items, counts = np.array([1.0, 0.0, 1.0, 1.0]), np.array([0, 1, 2, 0]), np.array([9.0, 4.0, 1.0])
    w = counts[items] ** -0.5
    return {
        "10-top-term": ((model, 3, 7), loop_top_term(model, split.train, 3, 7)),
        "10-ild": (([0, 2, 3, 4], G), loop_ild([0, 2, 3, 4], G)),
        "10-calibration": (([0, 1, 3], G, target), loop_kl([0, 1, 3], G, target)),
        "10-ips": ((values, items, counts, 0.5), float((w * values).sum() / w.sum())),
    }


def test_right_answers_are_accepted(fitted):
    for name, (inputs, answer) in cases(fitted).items():
        outcome = EXERCISES[name].evaluate(answer, *inputs)
        assert outcome.status == "correct", (name, outcome.message)


def test_wrong_answers_are_rejected_and_stubs_spotted(fitted):
    for name, (inputs, answer) in cases(fitted).items():
        wrong = answer + 1 if name == "10-top-term" else answer * 1.05
        assert EXERCISES[name].evaluate(wrong, *inputs).status == "wrong", name
        assert EXERCISES[name].evaluate(..., *inputs).status == "not attempted", name
