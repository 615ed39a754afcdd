"""Exercises of notebook 04 (matrix factorisation), registered with `reclab.exercises`.

Importing this module makes ``check("04-...", answer, ...)`` work. Every expected answer is computed
by the package from the inputs the notebook passes (data or a fitted model), never hard-coded.
"""
from __future__ import annotations

import numpy as np

from ..data import Interactions
from . import Exercise, register
from .challenge import Challenge
from ..metrics import rmse


def _item_mean_rmse(train: Interactions, valid: Interactions) -> float:
    r = train.ratings
    sums = np.bincount(r["item"], weights=r["rating"], minlength=train.n_items)
    counts = np.bincount(r["item"], minlength=train.n_items)
    # an item without training ratings falls back to the global mean
    means = np.where(counts > 0, sums / np.maximum(counts, 1), r["rating"].mean())
    return rmse(valid.ratings["rating"].to_numpy(np.float64), means[valid.ratings["item"].to_numpy()])


def _predicted_rating(model, user: int, item: int) -> float:
    return float(model.predict([user], [item])[0])


def _pair_loss(model, user: int, pos: int, neg: int) -> float:
    scores = model.score([user])[0].astype(np.float64)
    return float(np.logaddexp(0.0, -(scores[pos] - scores[neg])))  # −ln σ(x) = ln(1 + e^−x), stably


def _nearest_item(model, item: int) -> int:
    return int(model.similar_items(item, k=1)[0][0])


register(Exercise(
    "04-item-mean-rmse",
    "What RMSE on the validation ratings does predicting each movie's mean training rating get?",
    solution=_item_mean_rmse,
    rtol=1e-5,
    hint="item_means = train.ratings.groupby('item')['rating'].mean(); a movie with no training rating gets the global mean.",
))
register(Exercise(
    "04-predict-by-hand",
    "What rating does the fitted FunkSVD predict for the pair: μ + b_u + b_i + p_u · q_i?",
    solution=_predicted_rating,
    rtol=1e-5,
    hint="μ = global_mean_, b_u = user_bias_[user], b_i = item_bias_[item], p_u = user_factors_[user], q_i = item_factors_[item].",
))
register(Exercise(
    "04-bpr-pair-loss",
    "What is BPR's loss −ln σ(x̂_ui − x̂_uj) for the triple (user, positive, negative), without the L2 term?",
    solution=_pair_loss,
    rtol=1e-4,
    hint="x̂_ui = p_u · q_i + b_i from user_factors_, item_factors_ and item_bias_; σ(x) = 1 / (1 + e^−x).",
))
register(Exercise(
    "04-nearest-movie",
    "Which item's vector has the largest cosine similarity with the given item's vector (itself excluded)?",
    solution=_nearest_item,
    hint="normalise the rows of item_factors_, take their dot products with the item's row, skip the item itself.",
))


def _start_als():
    from ..models import ALS

    return ALS(alpha=1.0)


def _als_class() -> tuple[type, ...]:
    from ..models import ALS

    return (ALS,)


register(Challenge(
    "04-tune-als",
    "Starting from ALS(alpha=1.0), choose ALS settings (confidence alpha, reg, n_factors, n_epochs) that raise "
    "validation NDCG@10 by at least 0.005.",
    start=_start_als,
    margin=0.005,
    allowed=_als_class(),
    hint="alpha sets how much more a watched movie counts than an empty cell; try a few values on validation.",
))
