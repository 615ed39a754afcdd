"""Exercises of notebook 10 (beyond accuracy), registered with `reclab.exercises`.

Importing this module makes ``check("10-...", answer, ...)`` work. Every expected answer is
computed by the package from the inputs the notebook passes, never hard-coded.
"""
from __future__ import annotations

import numpy as np

from . import Exercise, register
from .. import metrics
from ..bias import ips_mean
from ..explain import item_terms
from ..rerank import calibration_error


def _top_term(model, user: int, item: int, history=None) -> int:
    return int(item_terms(model, user, item, history=history)["item"].iloc[0])


def _ild(items, item_features) -> float:
    return float(metrics.diversity(np.asarray(items)[None, :], item_features)[0])


def _calibration(items, item_genres, target) -> float:
    return float(calibration_error(np.asarray(items)[None, :], item_genres, np.asarray(target)[None, :])[0])


def _ips(values, items, item_counts, power: float) -> float:
    return ips_mean(values, items, item_counts, power=power)


register(Exercise(
    "10-top-term",
    "Which history item adds the most to EASE's score of `item` for `user`: the largest x_uj * B[j, item]?",
    solution=_top_term,
    hint="take the user's history row (binary), multiply each of its items j by model.B_[j, item], pick the largest.",
))
register(Exercise(
    "10-ild",
    "What is the intra-list diversity of the list: the mean of 1 - cosine(f_i, f_j) over its pairs of items?",
    solution=_ild,
    rtol=1e-6,
    hint="normalise each item's feature row to length 1; average 1 - u_i . u_j over the k(k-1)/2 pairs i < j.",
))
register(Exercise(
    "10-calibration",
    "What is the list's calibration error: KL(p || (1 - 0.01) q + 0.01 p), with q the mean genre share of its items?",
    solution=_calibration,
    rtol=1e-6,
    hint="each item's genres share its weight 1 equally; q = the mean of those rows; sum p * log(p / q~) where p > 0.",
))
register(Exercise(
    "10-ips",
    "What is the self-normalised IPS mean of the hits, each weighted by 1 / count[item] ** power?",
    solution=_ips,
    rtol=1e-6,
    hint="w = count[items] ** -power; the answer is sum(w * values) / sum(w).",
))
