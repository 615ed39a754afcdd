"""Exercises of notebook 09 (large models for recommendation), registered with `reclab.exercises`.

Importing this module makes ``check("09-...", answer, ...)`` work. Every expected answer is
computed from the inputs the notebook passes, never hard-coded.
"""
from __future__ import annotations

import numpy as np

from . import Exercise, register
from ..scaling import fit_power_law, n_parameters


def _recency_profile(vectors, sequence, half_life: float) -> np.ndarray:
    vectors, sequence = np.asarray(vectors, float), np.asarray(sequence)
    ages = len(sequence) - 1 - np.arange(len(sequence))  # 0 for the latest item
    return ((0.5 ** (ages / half_life))[:, None] * vectors[sequence]).sum(axis=0)


def _next_codes(ids, prefix) -> list[int]:
    ids, prefix = np.asarray(ids), tuple(prefix)
    match = (ids[:, : len(prefix)] == np.asarray(prefix, dtype=ids.dtype)).all(axis=1)
    return sorted(int(c) for c in np.unique(ids[match, len(prefix)]))


def _non_embedding(model) -> int:
    return n_parameters(model)["non-embedding"]


def _exponent(x, y) -> float:
    return fit_power_law(x, y)[1]


register(Exercise(
    "09-recency-profile",
    "What is the user's profile: the sum of their items' vectors, the latest weighted 1 and each earlier one "
    "halved every `half_life` items?",
    solution=_recency_profile,
    rtol=1e-5,
    atol=1e-6,
    hint="the item at position t of a history of length T is T - 1 - t items old; its weight is "
         "0.5 ** (age / half_life); multiply each vector by its weight and add them up.",
))
register(Exercise(
    "09-next-codes",
    "Which codes may come next after this prefix of a semantic ID, so that the code tuple can still be a real item?",
    solution=_next_codes,
    unordered=True,
    hint="keep the rows of ids whose first len(prefix) codes equal the prefix, and take the distinct values "
         "of the next column.",
))
register(Exercise(
    "09-non-embedding",
    "How many parameters does this SASRec hold outside its embedding tables (attention, feed-forward, norms)?",
    solution=_non_embedding,
    hint="per block: two LayerNorms (2d each), the q, k, v projections (3d² + 3d), the output projection "
         "(d² + d), two feed-forward layers (d² + d each); plus the final LayerNorm (2d).",
))
register(Exercise(
    "09-scaling-exponent",
    "Fit NDCG@10 ≈ a · N^b on log-log axes: what is the exponent b?",
    solution=_exponent,
    rtol=1e-3,
    hint="np.polyfit(np.log(x), np.log(y), 1) returns the slope b first, then log a.",
))
