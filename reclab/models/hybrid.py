"""Hybrid recommenders: combine several recommenders so each covers the others' blind spots.

Burke ("Hybrid Recommender Systems: Survey and Experiments", *User Modeling and User-Adapted
Interaction* 12(4), 2002) names seven ways to hybridise. Three are here:

- **weighted** (`Hybrid` with ``how="weighted"``): a weighted sum of the components' scores;
- **switching** (``how="switching"``): one component per user, chosen by a rule — here the length
  of the user's history (content or popularity for newcomers, collaborative filtering for the rest);
- **feature combination** (`add_feature_users`): content features enter a collaborative model as
  extra "users", one per genre or decade, who interact with every item that has the feature.

Cold start is where hybrids earn their keep: an item nobody has rated is invisible to
collaborative filtering but has a description, and a user with no history gets popularity.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from ..data import Interactions, Split
from .base import Bool, Choice, Int, NotFittedError, Recommender
from .content import ContentBased, item_tokens

HOWS = ("weighted", "switching")
NORMALIZERS = ("zscore", "minmax")


def normalize_scores(scores: np.ndarray, how: str = "zscore") -> np.ndarray:
    """Per-row (per-user) normalisation of a (n_users, n_items) score array.

    ``"zscore"``: ``(s - mean) / std`` of the row; ``"minmax"``: ``(s - min) / (max - min)``.
    A constant row becomes all zeros (it ranks nothing above anything else).

    Examples
    --------
    >>> normalize_scores(np.array([[1.0, 2.0, 3.0]]), "minmax")
    array([[0. , 0.5, 1. ]])
    """
    s = np.asarray(scores, dtype=np.float64)
    if how == "zscore":
        centred = s - s.mean(axis=1, keepdims=True)
        spread = s.std(axis=1, keepdims=True)
    elif how == "minmax":
        centred = s - s.min(axis=1, keepdims=True)
        spread = s.max(axis=1, keepdims=True) - s.min(axis=1, keepdims=True)
    else:
        raise ValueError(f"normalize={how!r} is not supported; use one of {NORMALIZERS}.")
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


class Hybrid(Recommender):
    """Weighted or switching hybrid of any recommenders (Burke, 2002).

    ``fit`` fits every component on the same training data (unless ``refit=False``, for components
    fitted already on the same users and items). `score` and `recommend` pass their ``history`` to
    every component (``model.score(users, history=history)``), so each scores the user from the
    same history, and `recommend` masks that history (train + valid for the test). Scores of each
    component are normalised per user before they meet:
    the components' scales have nothing in common (a cosine in [-1, 1], EASE's unbounded
    regression scores, popularity counts in the hundreds).

    Normalisation is the z-score by default: after it, every component's scores have mean 0 and
    spread 1 for every user, so a weight means the same thing for every user and every model.
    Min-max (``normalize="minmax"``) maps each user's scores to [0, 1], but one extreme score sets
    the whole scale, so the rest of the list is squeezed near 0.

    Cold start (choices of ours; Burke describes the idea, not these rules):

    - **users with no history** (no item in the history scored from) get popularity (distinct
      training users per item), in both modes: no component can personalise for them, and a
      ContentBased component cannot score them;
    - **items with no training interactions**, in the weighted mode, take the weighted average of
      the content components' normalised scores only (the `ContentBased` instances among
      ``models``): collaborative scores for an unrated item are uninformative. Without a content
      component they are scored like every other item.

    Parameters
    ----------
    models : recommenders, fitted or not.
    weights : one non-negative weight per model (weighted mode); default equal weights. The
        combined score is ``sum_m w_m z_m / sum_m w_m``.
    how : "weighted" or "switching". Switching needs exactly two models: users with fewer than
        ``min_history`` distinct items in the history scored from get ``models[0]``, the others
        ``models[1]``.
    normalize : "zscore" or "minmax" (see above).
    min_history : the switching threshold, in distinct items of the user's history (an int >= 1).
    refit : fit the components in ``fit`` (default); False keeps them as they are, and checks that
        each was fitted on data with train's users and items (ids included).
    """

    _params = {"how": Choice(*HOWS), "normalize": Choice(*NORMALIZERS), "min_history": Int(1), "refit": Bool()}

    def __init__(self, *, models: Sequence[Recommender], weights: Sequence[float] | None = None,
                 how: str = "weighted", normalize: str = "zscore", min_history: int = 20, refit: bool = True):
        self.models = models
        self.weights = weights
        self.how = how
        self.normalize = normalize
        self.min_history = min_history
        self.refit = refit

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self._check_models()
        for i, model in enumerate(self.models):
            if self.refit:
                model.fit(train, valid=valid)
                continue
            fitted_on = getattr(model, "train_", None)
            if not isinstance(fitted_on, Interactions):
                raise NotFittedError(
                    f"models[{i}] ({type(model).__name__}) is not fitted on this data (refit=False needs "
                    f"components fitted on train's {train.n_users} users and {train.n_items} items); fit it on "
                    "train or use refit=True."
                )
            sizes = (fitted_on.n_users, fitted_on.n_items) == (train.n_users, train.n_items)
            if not (sizes and all(np.array_equal(np.asarray(getattr(fitted_on, ids)), np.asarray(getattr(train, ids)))
                                  for ids in ("user_ids", "item_ids"))):
                raise ValueError(
                    f"models[{i}] ({type(model).__name__}) is not fitted on this data: it was fitted on "
                    f"{fitted_on.name!r} ({fitted_on.n_users} users, {fitted_on.n_items} items"
                    f"{', other ids' if sizes else ''}), train is {train.name!r} ({train.n_users} users, "
                    f"{train.n_items} items). With refit=False every component must be fitted on train's users and "
                    "items (e.g. split.train), since the hybrid passes its history to each; fit it on train or use "
                    "refit=True."
                )
        self.weights_ = np.asarray(self.weights if self.weights is not None else [1.0] * len(self.models), float)
        self.history_ = np.diff(self.seen_.indptr)  # (n_users,) distinct training items per user
        self.popularity_ = np.asarray(self.seen_.sum(axis=0), dtype=np.float32).ravel()  # (n_items,)
        self.content_ = np.array([isinstance(m, ContentBased) for m in self.models])
        self.cold_items_ = self.popularity_ == 0

    def _check_models(self) -> None:
        """The rules a parameter table cannot express: the models, their number, the weights."""
        models = list(self.models) if isinstance(self.models, (list, tuple)) else None
        if not models or not all(isinstance(m, Recommender) for m in models):
            raise ValueError(f"models must be a non-empty list of reclab recommenders, got {self.models!r}.")
        if self.how == "switching" and len(models) != 2:
            raise ValueError(f"how='switching' needs exactly 2 models [for short histories, for long ones], "
                             f"got {len(models)}.")
        if self.weights is not None:
            try:
                w = np.asarray(self.weights, dtype=float)
            except (TypeError, ValueError):
                w = np.full(0, np.nan)
            if w.shape != (len(models),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() == 0:
                raise ValueError(f"weights={self.weights!r} is not valid: it must be {len(models)} finite "
                                 "non-negative numbers, not all zero (one per model).")

    @staticmethod
    def _lengths(history: Interactions) -> np.ndarray:
        """(n_users,) distinct items of each user in ``history``, counted once per history."""
        return history.view("distinct items per user", lambda h: np.diff(h.binary().indptr))

    def _component(self, index: int, users: np.ndarray, history: Interactions) -> np.ndarray:
        model = self.models[index]
        scores = np.asarray(model.score(users, history=history), dtype=np.float64)  # (len(users), n_items)
        if not np.isfinite(scores).all():
            raise ValueError(f"models[{index}] ({type(model).__name__}) returned non-finite "
                             "scores; a hybrid cannot normalise them.")
        return normalize_scores(scores, self.normalize)

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        out = np.empty((len(users), self.n_items_))
        lengths = self._lengths(history)[users]
        cold = lengths == 0
        out[cold] = normalize_scores(self.popularity_[None, :], self.normalize)
        warm = np.flatnonzero(~cold)  # positions in users
        if self.how == "switching":
            short = lengths[warm] < self.min_history
            for index, rows in ((0, warm[short]), (1, warm[~short])):
                if len(rows):
                    out[rows] = self._component(index, users[rows], history)
            return out
        if len(warm):
            w = self.weights_
            parts = [self._component(m, users[warm], history) for m in range(len(self.models))]  # (n_warm, n_items)
            combined = sum(wm * part for wm, part in zip(w, parts)) / w.sum()
            if self.content_.any() and w[self.content_].sum() > 0 and self.cold_items_.any():
                content = sum(w[m] * parts[m][:, self.cold_items_] for m in np.flatnonzero(self.content_))
                combined[:, self.cold_items_] = content / w[self.content_].sum()
            out[warm] = combined
        return out

    def which_model(self, users, *, history: Interactions | None = None) -> np.ndarray:
        """Switching mode: per user, the index of the model that scores them from ``history``
        (default: the training data), or -1 for popularity."""
        users = self._check_users(users)
        history = self._check_history(history)
        if self.how != "switching":
            raise ValueError(f"which_model is for how='switching'; this hybrid is how={self.how!r}.")
        lengths = self._lengths(history)[users]
        return np.where(lengths == 0, -1, np.where(lengths < self.min_history, 0, 1))

    def save(self, path):
        raise NotImplementedError("Hybrid holds other models, which save one by one: save each of "
                                  "hybrid.models, then rebuild Hybrid(models=[...loaded...], refit=False).")


def add_feature_users(train: Interactions, rating: float | None = None) -> Interactions:
    """``train`` plus one pseudo-user per genre and per decade who rated every item that has it.

    Burke's *feature combination*: a collaborative model fitted on the result sees two items as
    similar when the same people rated them *or* they share genres and decade. It does not rescue
    an item nobody has rated: its column still says that no real user took it, which item-item
    models such as EASE read as "unwanted" (notebook 05 shows it; `Hybrid` handles such items
    with content scores instead). Real users keep their indices (0..n_users-1); the
    pseudo-users follow, with user ids ``"genre:Drama"``, ``"decade:1990s"``; ``users`` becomes None.
    ``rating`` is the pseudo-users' rating (default: the highest rating in ``train``).

    `FeatureUsers` wraps a model fitted this way so that it scores the split's real users from
    any history (and so `evaluate` works as for any model).
    """
    tokens: dict[str, list[int]] = {}  # feature → the items that have it
    for i, row in enumerate(train.items.to_dict("records")):
        for token in item_tokens(row):
            if not token.startswith("title:"):  # genres and decade only: title words are too sparse
                tokens.setdefault(token, []).append(i)
    if not tokens:
        raise ValueError("train.items has no genres or year to turn into feature users "
                         f"(its columns: {list(train.items.columns)}).")
    names = sorted(tokens)
    user = np.concatenate([np.full(len(tokens[t]), train.n_users + j) for j, t in enumerate(names)])
    item = np.concatenate([tokens[t] for t in names])
    value = float(train.ratings["rating"].max()) if rating is None else float(rating)
    extra = pd.DataFrame({"user": user.astype(np.int32), "item": item.astype(np.int32),
                          "rating": np.full(len(user), value, np.float32),
                          "timestamp": np.full(len(user), int(train.ratings["timestamp"].min()), np.int64)})
    user_ids = np.concatenate([np.asarray(train.user_ids, dtype=object), np.asarray(names, dtype=object)])
    return replace(train, ratings=pd.concat([train.ratings, extra], ignore_index=True), users=None,
                   user_ids=user_ids, name=f"{train.name} + feature users")


class FeatureUsers(Recommender):
    """A collaborative ``model`` fitted on `add_feature_users` data: Burke's feature combination.

    ``fit(train)`` fits ``model`` on train plus one pseudo-user per genre and decade; scoring
    from a history (the training data, ``split.history("test")``, a newcomer's ratings) adds the
    same pseudo-users to that history, so the inner model always sees the data it was fitted on
    and the wrapper answers for the real users only, on the split's own ids — `evaluate` works as
    for any model.

    Parameters
    ----------
    model : an unfitted recommender, e.g. ``EASE()``; it is fitted in place.
    rating : the pseudo-users' rating (default: the highest rating in train).

    Examples
    --------
    >>> model = FeatureUsers(model=EASE()).fit(split.train)     # doctest: +SKIP
    >>> evaluate(model, split)                                  # doctest: +SKIP
    """

    def __init__(self, *, model: Recommender, rating: float | None = None):
        self.model, self.rating = model, rating

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        if not isinstance(self.model, Recommender):
            raise TypeError(f"model must be a reclab recommender, e.g. EASE(), got {type(self.model).__name__}.")
        augmented = add_feature_users(train, self.rating)
        self.n_pseudo_users_ = augmented.n_users - train.n_users
        self.augmented_ = augmented
        self._pseudo_rows = augmented.ratings.iloc[len(train.ratings):]
        self.model.fit(augmented, valid=None if valid is None else augmented.with_ratings(valid.ratings))

    def _augment(self, history: Interactions) -> Interactions:
        """``history`` plus the pseudo-users' rows, on the augmented ids (built once per history)."""
        if history is self.train_:
            return self.augmented_
        return self._per_history(history, "feature users", lambda h: self.augmented_.with_ratings(
            pd.concat([h.ratings, self._pseudo_rows], ignore_index=True)))

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        return self.model.score(users, history=self._augment(history))

    def save(self, path):
        raise NotImplementedError("FeatureUsers wraps another model: save FeatureUsers.model and refit the wrapper.")


def cold_item_split(split: Split, frac: float = 0.2, seed: int = 0) -> Split:
    """An item cold-start version of ``split``: a random ``frac`` of the test items lose all history.

    The chosen items' rows leave train and valid, so to every model they are items nobody has
    rated; test keeps only the rows of those items, so `evaluate` scores only users whose held-out
    item is cold. Collaborative models cannot rank such an item above chance; content can.

    Examples
    --------
    >>> cold = cold_item_split(leave_last_out(data), frac=0.2)   # doctest: +SKIP
    """
    if not 0 < frac <= 1:
        raise ValueError(f"frac={frac!r} must be in (0, 1]: the share of test items to make cold.")
    candidates = np.unique(split.test.ratings["item"].to_numpy())
    if len(candidates) == 0:
        raise ValueError("split.test is empty; there is no test item to make cold.")
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(candidates, size=max(1, round(frac * len(candidates))), replace=False))

    def keep(part: Interactions, is_cold: bool) -> Interactions:
        rows = part.ratings["item"].isin(cold).to_numpy() == is_cold
        return part.with_ratings(part.ratings[rows], name=f"{part.name} (cold items)")

    return Split(keep(split.train, False), keep(split.valid, False), keep(split.test, True),
                 how=f"{split.how}, {len(cold)} cold items")
