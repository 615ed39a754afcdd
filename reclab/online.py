"""Recommendations from a history that grows while a model serves: the state behind `reclab.serve`.

A fitted model scores from whatever history it is given (`reclab.models.base`): EASE, ItemKNN, the
Markov chain and the sequence models read it, ALS folds the changed users in. So real-time updates
need no refit: `LiveHistory` keeps the current history as one `Interactions`, `append` adds an
event as a new row (a new object, so a model's per-history caches, such as an ALS fold-in, start
afresh; the views every model reads, binary matrix, sequences and last items, are carried over with
the one user's row updated instead of rebuilt from every row), and `recommend` scores from it. `with_items` builds the one-off history of a user who brings their own
items (a newcomer, or a what-if) without touching the live one.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import Interactions
from .models.base import Recommender
from .models.markov import last_items  # the Markov chain's view of a history, carried like the others


def with_items(history: Interactions, user: int, items) -> Interactions:
    """``history`` with the rows of ``user`` replaced by ``items``, in the order given (oldest first).

    The new rows are timed after everything in ``history``, so sequence models read ``items[-1]``
    as the latest. Only ``user``'s row changes: a model folding users in (ALS) solves that user alone.

    Examples
    --------
    >>> fresh = with_items(model.train_, 0, [1, 5, 9])          # doctest: +SKIP
    >>> model.recommend(0, k=5, history=fresh)                   # doctest: +SKIP
    """
    items = _check_items(items, history.n_items)
    ratings = history.ratings
    start = int(ratings["timestamp"].max()) + 1 if len(ratings) else 0
    rows = pd.DataFrame({"user": np.full(len(items), user, np.int32), "item": items.astype(np.int32),
                         "rating": np.ones(len(items), np.float32),
                         "timestamp": start + np.arange(len(items), dtype=np.int64)})
    kept = ratings[ratings["user"].to_numpy() != user]
    fresh = history.with_ratings(pd.concat([kept, rows], ignore_index=True), name=f"{history.name}+items")
    _replace_views(history, fresh, user, items)
    return fresh


def _check_items(items, n_items: int) -> np.ndarray:
    """A non-empty 1-D int array of item indices in range; ValueError / KeyError naming the fix."""
    arr = np.asarray(items)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"history={list(np.atleast_1d(arr))!r} is empty; give at least one item index, e.g. [1, 5, 9].")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"history must hold int item indices, got {arr.dtype} values; e.g. [1, 5, 9].")
    bad = arr[(arr < 0) | (arr >= n_items)]
    if len(bad):
        raise KeyError(f"item index {int(bad[0])} is out of range: this model knows items 0..{n_items - 1}.")
    return arr.astype(np.int64)


def _carry_views(old: Interactions, new: Interactions, user: int, item: int) -> None:
    """Give ``new`` (``old`` plus the user's newest event) the views models read, updated, not rebuilt.

    Rebuilding a view sorts every row (to_csr, sequences: tens of ms on ml-100k per event); updating
    it touches one user. Correct only when the event is the user's latest in time order, which the
    caller checks. A view a model does not read costs one build on the first event, then a copy.
    """
    single = sp.csr_matrix((np.ones(1, np.float32), ([user], [item])), shape=old.binary().shape)
    binary = old.binary() + single
    binary.data[:] = 1.0  # a repeated pair stays one pair
    binary.sort_indices()
    new.view("binary", lambda d: binary)
    sequences = list(old.view("sequences", lambda d: d.sequences()))
    sequences[user] = np.append(sequences[user], np.asarray(item, sequences[user].dtype))
    new.view("sequences", lambda d: sequences)
    last = last_items(old).copy()
    last[user] = item
    new.view("last items", lambda d: last)


def _replace_views(old: Interactions, new: Interactions, user: int, items: np.ndarray) -> None:
    """Give ``new`` (``old`` with ``user``'s rows replaced by ``items``, timed after all others) its views.

    As `_carry_views`: one user's row is rebuilt, the others are shared with ``old``'s views.
    """
    row = np.zeros(old.n_items, np.float32)
    row[items] = 1.0
    before, after = old.binary()[:user], old.binary()[user + 1:]
    binary = sp.vstack([before, sp.csr_matrix(row[None, :]), after], format="csr", dtype=np.float32)
    binary.sort_indices()
    new.view("binary", lambda d: binary)
    sequences = list(old.view("sequences", lambda d: d.sequences()))
    sequences[user] = items.astype(sequences[user].dtype)
    new.view("sequences", lambda d: sequences)
    last = last_items(old).copy()
    last[user] = items[-1]
    new.view("last items", lambda d: last)


class LiveHistory:
    """A model and the history it serves from, updated by events; safe to share between threads.

    Parameters
    ----------
    model : a fitted recommender.
    history : where to start from (default: the model's training data, saved in its file).

    Examples
    --------
    >>> live = LiveHistory(EASE().fit(split.train))   # doctest: +SKIP
    >>> live.append(0, 42)                             # doctest: +SKIP
    >>> items, scores = live.recommend(0, k=10)        # doctest: +SKIP
    """

    def __init__(self, model: Recommender, history: Interactions | None = None):
        self.model = model
        self.history = model._check_history(history)
        # one lock for events and scoring: the models' per-history caches are plain dicts, and a
        # request must see either the history before an event or the one after, never half of it
        self._lock = threading.Lock()

    @property
    def n_users(self) -> int:
        return self.model.n_users_

    @property
    def n_items(self) -> int:
        return self.model.n_items_

    def append(self, user: int, item: int, rating: float = 1.0, timestamp: int | None = None) -> int:
        """Add the event (user, item) and return the user's number of interactions after it.

        ``timestamp`` (Unix seconds) defaults to now, or just after the user's latest event when
        that is later, so the event is the user's most recent.
        """
        self.model._check_ids(user, self.n_users, "user")
        self.model._check_ids(item, self.n_items, "item")
        if not np.isfinite(rating):
            raise ValueError(f"rating={rating!r} must be a finite number, e.g. 1.0.")
        with self._lock:
            old = self.history
            ratings = old.ratings
            mine = ratings["timestamp"].to_numpy()[ratings["user"].to_numpy() == user]
            latest = int(mine.max()) if len(mine) else None
            if timestamp is None:
                timestamp = max(int(time.time()), latest + 1 if latest is not None else 0)
            row = pd.DataFrame({"user": [np.int32(user)], "item": [np.int32(item)], "rating": [np.float32(rating)],
                                "timestamp": [np.int64(timestamp)]})
            self.history = old.with_ratings(pd.concat([ratings, row], ignore_index=True), name=old.name)
            if latest is None or timestamp >= latest:  # the user's newest event (a tie counts as later: last row)
                _carry_views(old, self.history, user, item)
            return len(mine) + 1

    def recommend(self, user: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (items, scores) for ``user`` from the current history, its items excluded."""
        with self._lock:
            return self.model.recommend(user, k, history=self.history)

    def recommend_items(self, items, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (items, scores) for a newcomer who interacted with ``items`` (oldest first).

        The newcomer takes user slot 0 in a one-off history, its rows replaced by ``items``: every
        model scores a user from that user's own row, so nothing of user 0 leaks in.
        """
        self.model._check_k(k, self.n_items)
        with self._lock:
            return self.model.recommend(0, k, history=with_items(self.history, 0, items))
