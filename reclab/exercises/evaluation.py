"""Exercises of notebook 01 (evaluation and baselines), registered with `reclab.exercises`.

Importing this module makes ``check("01-...", answer, ...)`` work. Every expected answer is
computed by the package from the inputs the notebook passes, never hard-coded.
"""
from __future__ import annotations

import numpy as np

from .. import metrics
from ..data import Split, future_share
from ..evaluation import evaluate
from . import Exercise, check, register

__all__ = ["check"]


def _recall_by_hand(ranked, relevant, k: int) -> float:
    topk = np.asarray([list(ranked)[:k]])
    return float(metrics.recall_at_k(topk, [np.asarray(list(relevant))], k)[0])


def _valid_hit_rate(split: Split, model, k: int) -> float:
    result = evaluate(model, split, k, part="valid", metrics=("HR",))
    return float(result["value"].item())


register(Exercise(
    "01-recall-by-hand",
    "What is recall@k of the ranked list for the given relevant items?",
    solution=_recall_by_hand,
    hint="count the relevant items among the first k of the list, divide by the number of relevant items.",
))
register(Exercise(
    "01-precision-ceiling",
    "With exactly one held-out item per user, what is the highest precision@k any recommender can reach?",
    solution=lambda k: 1 / k,
    hint="a list of k items can contain the one relevant item at most once.",
))
register(Exercise(
    "01-random-split-leak",
    "In the random split, what share of test ratings has at least one training rating from a later time?",
    solution=lambda split: float((future_share(split) > 0).mean()),
    rtol=1e-6,
    hint="reclab.data.future_share(split) gives, per test rating, the share of training ratings after it.",
))
register(Exercise(
    "01-valid-hit-rate",
    "What is Popularity's HR@k on the validation part (train masked)?",
    solution=_valid_hit_rate,
    rtol=1e-6,
    hint="evaluate(model, split, k, part='valid', metrics=('HR',)) returns a one-row table.",
))
