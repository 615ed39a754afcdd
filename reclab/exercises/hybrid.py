"""Exercises of notebook 05 (hybrid recommenders and cold start), registered with `reclab.exercises`.

Importing this module makes ``check("05-...", answer, ...)`` work. Every expected answer is computed
by the package from the inputs the notebook passes (fitted models included), never hard-coded.
"""
from __future__ import annotations

import numpy as np

from ..data import Interactions
from . import Exercise, register
from .challenge import Challenge
from ..models.hybrid import add_feature_users, normalize_scores


def _zscore(model, user: int, item: int) -> float:
    return float(normalize_scores(model.score([user]), "zscore")[0, item])


def _weighted_top(train: Interactions, model_a, model_b, weight: float, user: int, k: int = 5) -> np.ndarray:
    # the plain weighted sum the exercise asks for; `Hybrid` would add its cold-item rule on top
    scores = (weight * normalize_scores(model_a.score([user]), "minmax")
              + (1 - weight) * normalize_scores(model_b.score([user]), "minmax"))[0]
    scores[train.to_csr("binary")[user].indices] = -np.inf  # movies rated in training
    return np.argsort(-scores, kind="stable")[:k]


def _switch_share(train: Interactions, min_history: int) -> float:
    history = np.diff(train.to_csr("binary").indptr)  # distinct training items per user
    known = history > 0
    return float((history[known] < min_history).mean())


def _n_feature_users(train: Interactions) -> int:
    return add_feature_users(train).n_users - train.n_users


register(Exercise(
    "05-zscore",
    "What is the z-scored score of one item for one user: (score - the user's mean) / the user's std?",
    solution=_zscore,
    rtol=1e-4,
    hint="s = model.score([user])[0]; then (s[item] - s.mean()) / s.std() over all items.",
))
register(Exercise(
    "05-weighted-top",
    "Which 5 unseen items does a min-max weighted hybrid w * A + (1 - w) * B put first for the user?",
    solution=_weighted_top,
    hint="min-max each model's scores over all items, combine with the weights, mask seen items, take the 5 best.",
))
register(Exercise(
    "05-switch-share",
    "What share of the users with some history would a switching hybrid hand to its first model?",
    solution=_switch_share,
    rtol=1e-6,
    hint="count distinct training items per user; among users with at least one, the share below min_history.",
))
register(Exercise(
    "05-feature-users",
    "How many pseudo-users does add_feature_users add (one per genre and per decade)?",
    solution=_n_feature_users,
    hint="collect the distinct genres and the distinct decades (year // 10 * 10) of the movies; count both.",
))


def _start_hybrid():
    from ..models import EASE, ContentBased, Hybrid

    return Hybrid(models=[ContentBased(prior=0.0, half_life=None), EASE()], weights=[0.5, 0.5])


def _hybrid_class() -> tuple[type, ...]:
    from ..models import Hybrid

    return (Hybrid,)


register(Challenge(
    "05-tune-hybrid",
    "Starting from Hybrid(models=[ContentBased(prior=0.0, half_life=None), EASE()], weights=[0.5, 0.5]), "
    "choose a Hybrid (its components, their settings and the weights) that raises validation NDCG@10 by at "
    "least 0.02.",
    start=_start_hybrid,
    margin=0.02,
    allowed=_hybrid_class(),
    hint="the weight sweep and the recency ablation above say what the content part should keep and how much it "
         "should weigh.",
))
