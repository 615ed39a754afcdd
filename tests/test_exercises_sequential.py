"""Exercises of notebooks 07 and 08: a right answer gives ✅, a stub ⬜, a wrong one ❌.

The right answers are computed here another way (loops, closed forms, plain numpy), not by the
functions the checkers call.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

import reclab.exercises.sequential  # noqa: F401  (registers the exercises)
from reclab.data import leave_last_out, make_synthetic
from reclab.exercises import EXERCISES
from reclab.models import GRU4Rec, SASRec


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_synthetic(n_users=60, n_items=30, length=(8, 14), seed=5))


@pytest.fixture(scope="module")
def gru(split):
    return GRU4Rec(n_factors=8, n_hidden=12, max_len=20, n_epochs=1, device="cpu", seed=0).fit(split.train)


@pytest.fixture(scope="module")
def sasrec(split):
    return SASRec(n_factors=8, n_blocks=2, n_heads=2, max_len=20, n_epochs=1, device="cpu",
                  seed=0).fit(split.train)


def brute_targets(train) -> int:
    per_user = train.ratings.groupby("user").size()
    return int((per_user - 1).sum())


def brute_successor(train, item: int) -> int:
    counts = Counter()
    for user, rows in train.ratings.sort_values(["timestamp"], kind="stable").groupby("user"):
        seq = rows["item"].tolist()
        counts.update(b for a, b in zip(seq[:-1], seq[1:]) if a == item)
    best = max(counts.values())
    return min(j for j, c in counts.items() if c == best)


def numpy_causal_attention(q, k, v):
    scores = q @ k.T / np.sqrt(q.shape[1])
    scores[np.triu_indices(len(q), 1)] = -np.inf
    w = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (w / w.sum(axis=1, keepdims=True)) @ v


def cases(split, gru, sasrec):
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(3, 5, 4))
    item = int(split.train.ratings["item"].iloc[0])
    d, h = 8, 12
    user = 3
    items, weights = sasrec.attention_maps(user)
    last_row = weights[-1].mean(axis=0)[-1]
    return {
        "07-next-item-targets": ((split.train,), brute_targets(split.train)),
        "07-most-frequent-successor": ((split.train, item), brute_successor(split.train, item)),
        "07-gru-parameters": ((gru,), 3 * (h * d + h * h + 2 * h)),
        "08-causal-mask": ((5,), np.array([[int(j <= i) for j in range(5)] for i in range(5)])),
        "08-causal-attention": ((q, k, v), numpy_causal_attention(q, k, v)),
        "08-most-attended": ((sasrec, user), int(items[int(np.argmax(last_row))])),
    }


def wrong(answer):
    if isinstance(answer, np.ndarray):
        return answer.T + 1.0 if answer.dtype.kind == "f" else 1 - answer
    return answer + 1


def test_right_answers_are_accepted(split, gru, sasrec):
    for name, (inputs, right) in cases(split, gru, sasrec).items():
        assert EXERCISES[name].evaluate(right, *inputs).status == "correct", name


def test_wrong_answers_are_rejected_and_stubs_spotted(split, gru, sasrec):
    for name, (inputs, right) in cases(split, gru, sasrec).items():
        assert EXERCISES[name].evaluate(wrong(right), *inputs).status == "wrong", name
        assert EXERCISES[name].evaluate(..., *inputs).status == "not attempted", name


def test_causal_mask_accepts_booleans_and_torch(split, gru, sasrec):
    exercise = EXERCISES["08-causal-mask"]
    assert exercise.evaluate(np.tril(np.ones((4, 4), bool)), 4).status == "correct"
    assert exercise.evaluate(torch.ones(4, 4).tril().numpy(), 4).status == "correct"
    assert exercise.evaluate(np.ones((4, 4)), 4).status == "wrong"  # no mask at all


def test_the_printed_line_starts_with_the_mark(split, gru, capsys):
    EXERCISES["07-gru-parameters"].check(3 * (12 * 8 + 12 * 12 + 2 * 12), gru)
    EXERCISES["07-gru-parameters"].check(0, gru)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("✅ 07-gru-parameters") and out[1].startswith("❌ 07-gru-parameters")
