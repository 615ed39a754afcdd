"""Exercises of notebook 11 (scale and deploy), registered with `reclab.exercises`.

Importing this module makes ``check("11-...", answer, ...)`` work. Every expected answer is
computed from the inputs the notebook passes, never hard-coded.
"""
from __future__ import annotations

import numpy as np

from . import Exercise, register
from .. import metrics


def _recall(approx, exact) -> float:
    approx, exact = np.asarray(approx), np.asarray(exact)
    if approx.shape[0] != exact.shape[0]:
        raise ValueError(f"approx has {approx.shape[0]} rows and exact {exact.shape[0]}; pass one row per query to both.")
    # each exact row is one query's relevant set (a list of rows, not a dense relevance matrix)
    return float(metrics.recall_at_k(approx, list(exact), approx.shape[1]).mean())


def _ddp_gradient(row_gradients, sizes) -> np.ndarray:
    row_gradients, sizes = np.asarray(row_gradients, dtype=float), [int(n) for n in sizes]
    if sum(sizes) != len(row_gradients):
        raise ValueError(f"sizes {sizes} add up to {sum(sizes)}, not to the {len(row_gradients)} rows.")
    bounds = np.cumsum([0, *sizes])
    return np.mean([row_gradients[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])], axis=0)


def _score_bytes(n_users: int, n_items: int) -> float:
    return int(n_users) * int(n_items) * 4 / 2**30


register(Exercise(
    "11-recall",
    "What is the recall@n of the approximate search: the mean share of each query's exact top n that it found?",
    solution=_recall,
    hint="for each query (row), count the ids of the exact row that the approximate row holds, divide by n; average.",
))
register(Exercise(
    "11-ddp-gradient",
    "Rows split across processes in blocks of the given sizes; each process takes the mean gradient of its rows "
    "and DDP averages the processes. Which gradient does the step use?",
    solution=_ddp_gradient,
    hint="mean over each process's block of rows first, then the plain mean of those per-process means.",
))
register(Exercise(
    "11-score-memory",
    "How many GiB (2**30 bytes) does a float32 matrix of every user's score for every item take?",
    solution=_score_bytes,
    hint="users × items × 4 bytes, divided by 2**30.",
))
