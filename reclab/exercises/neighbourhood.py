"""Exercises of notebook 03 (neighbourhood collaborative filtering), registered with `reclab.exercises`.

Importing this module makes ``check("03-...", answer, ...)`` work. Every expected answer is computed
by the package from the inputs the notebook passes, never hard-coded.
"""
from __future__ import annotations

import numpy as np

from ..data import Interactions
from . import Exercise, register
from .challenge import Challenge
from ..models.knn import column_similarity


def _similarity(train: Interactions, a: int, b: int, kind: str, shrink: float = 0.0) -> float:
    """sim(a, b) between two items of ``train`` (binary for cosine/Jaccard, stars for Pearson)."""
    X = train.to_csr("rating" if kind == "pearson" else "binary")
    return float(column_similarity(X, kind, shrink=shrink)[a, b])


def _top_by_item_knn(train: Interactions, user: int, k: int = 5) -> np.ndarray:
    from ..models import ItemKNN

    model = ItemKNN(similarity="cosine", k_neighbours=None, shrink=0.0).fit(train)
    return model.recommend(user, k=k)[0]


def _nearest_users(train: Interactions, user: int, k: int = 5) -> np.ndarray:
    S = column_similarity(train.to_csr("binary").T, "cosine", k_neighbours=k)  # (n_users, n_users)
    return S[user].indices


register(Exercise(
    "03-jaccard-pair",
    "What is the Jaccard similarity of two movies: users who rated both / users who rated either?",
    solution=lambda train, a, b: _similarity(train, a, b, "jaccard"),
    rtol=1e-4,
    hint="take the set of users of each movie from train.ratings, then len(a & b) / len(a | b).",
))
register(Exercise(
    "03-shrunk-pearson",
    "What is the Pearson similarity of the two movies after shrinkage with shrink=10?",
    solution=lambda train, a, b: _similarity(train, a, b, "pearson", shrink=10.0),
    rtol=1e-4,
    hint="multiply the Pearson similarity by n / (n + 10), n = the number of users who rated both.",
))
register(Exercise(
    "03-recommend-by-hand",
    "Which 5 unseen movies does cosine item-kNN (every neighbour, no shrinkage) put first for the user?",
    solution=_top_by_item_knn,
    hint="scores = X[user] @ S; set the user's training items to -inf; take the 5 largest, best first.",
))
register(Exercise(
    "03-nearest-users",
    "Which 5 users are most similar to the user (cosine of their binary rows)?",
    solution=_nearest_users,
    unordered=True,
    hint="normalise the rows of X, multiply by the user's row, ignore the user itself, take the 5 largest.",
))


def _start_knn():
    from ..models import ItemKNN

    return ItemKNN(similarity="cosine", k_neighbours=50)


def _knn_classes() -> tuple[type, ...]:
    from ..models import ItemKNN, UserKNN

    return ItemKNN, UserKNN


register(Challenge(
    "03-tune-knn",
    "Starting from ItemKNN(similarity='cosine', k_neighbours=50), choose the settings of an ItemKNN or "
    "UserKNN (not EASE) that raise validation NDCG@10 by at least 0.008.",
    start=_start_knn,
    margin=0.008,
    allowed=_knn_classes(),
    hint="the sweeps above show which similarity and how many neighbours each model likes on validation.",
))
