"""Exercises of notebook 02 (content-based filtering), registered with `reclab.exercises`.

Importing this module makes ``check("02-...", answer, ...)`` work. Every expected answer is computed
by the package from the inputs the notebook passes, never hard-coded.
"""
from __future__ import annotations

import numpy as np

from ..data import Interactions
from . import Exercise, register
from ..models.content import PLAIN, ContentBased, item_tokens, tfidf_features


def _idf(train: Interactions, token: str) -> float:
    """Smoothed IDF, scikit-learn's default: ln((1 + n) / (1 + df)) + 1."""
    df = sum(token in set(item_tokens(row)) for row in train.items.to_dict("records"))
    return float(np.log((1 + train.n_items) / (1 + df)) + 1)


def _cosine(train: Interactions, a: int, b: int) -> float:
    X, _ = tfidf_features(train.items)  # unit-norm rows: the dot product is the cosine
    return float(X[a].multiply(X[b]).sum())


def _top_feature(train: Interactions, user: int) -> str:
    model = ContentBased(**PLAIN).fit(train)
    profile = model.profiles_[user].toarray().ravel()
    return str(model.features_[int(np.argmax(profile))])


def _new_user_top(train: Interactions, ratings: dict, k: int = 5) -> np.ndarray:
    scores = ContentBased(**PLAIN).fit(train).score_ratings(ratings)
    scores[list(ratings)] = -np.inf  # the rated movies are not recommended back
    return np.argsort(-scores, kind="stable")[:k]


register(Exercise(
    "02-idf",
    "What is the smoothed IDF, ln((1 + n) / (1 + df)) + 1, of one token in the catalogue?",
    solution=_idf,
    rtol=1e-5,
    hint="df = number of movies whose item_tokens(row) contain the token; n = number of movies.",
))
register(Exercise(
    "02-cosine",
    "What is the TF-IDF cosine similarity of two movies?",
    solution=_cosine,
    rtol=1e-4,
    hint="take the two rows of the TF-IDF matrix; they are unit-norm, so the cosine is their dot product.",
))
register(Exercise(
    "02-top-profile-feature",
    "Which feature has the largest weight in the user's profile (the plain model, ContentBased(**PLAIN))?",
    solution=_top_feature,
    hint="fit ContentBased(**PLAIN), take the user's row of model.profiles_, find its largest entry in model.features_.",
))
register(Exercise(
    "02-new-user",
    "Which 5 movies does the plain content-based model recommend, best first, to a new user with these ratings?",
    solution=_new_user_top,
    hint="model.score_ratings(ratings) scores every movie; leave out the rated ones, then take the 5 best.",
))
