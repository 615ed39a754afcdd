"""`MarkovChain`: recommend what usually comes right after the user's last item.

A first-order Markov chain over items is the simplest sequential recommender: count, over every
user's time-ordered history, how often item ``j`` directly follows item ``i``; then rank items for
a user by the row of their most recent item. Markov chains in recommendation go back at least to
Shani, Heckerman & Brafman ("An MDP-Based Recommender System", JMLR 2005); Rendle, Freudenthaler &
Schmidt-Thieme ("Factorizing Personalized Markov Chains for Next-Basket Recommendation", WWW 2010)
factorise the transition tensor (FPMC) so that sparse rows borrow strength from similar items. This
module keeps the plain, unfactorised chain — a transparent baseline for GRU4Rec and SASRec, and
the model that recovers ``make_synthetic``'s planted successor.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..data import Interactions
from .base import Real, Recommender


def transition_counts(sequences: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Count consecutive pairs: ``C[i, j]`` = how often ``j`` directly follows ``i`` in a sequence.

    Parameters
    ----------
    sequences : one int array of item indices per user, in time order (`Interactions.sequences`).
    n_items : size of the catalogue.

    Returns
    -------
    (n_items, n_items) float32 CSR matrix of counts; pairs never cross from one user to the next.

    Examples
    --------
    >>> transition_counts([np.array([0, 1, 0, 1]), np.array([1, 2])], 3).toarray()
    array([[0., 2., 0.],
           [1., 0., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    pairs = [(s[:-1], s[1:]) for s in sequences if len(s) > 1]
    src = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int64)
    dst = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.int64)
    # coo -> csr sums duplicate (src, dst) entries, which is exactly the count we want
    counts = sp.coo_matrix((np.ones(len(src), np.float32), (src, dst)), shape=(n_items, n_items)).tocsr()
    counts.sum_duplicates()
    return counts


def last_items(history: Interactions) -> np.ndarray:
    """Each user's latest item in ``history`` (time order, ties by row: `Interactions.time_order`), -1 for none.

    Built once per history object (a shared view: do not modify it).

    Examples
    --------
    >>> import pandas as pd
    >>> ratings = pd.DataFrame({"user_id": [0, 0, 1], "item_id": [0, 1, 1], "rating": 1.0, "timestamp": [2, 1, 0]})
    >>> last_items(Interactions.from_frames(ratings)).tolist()   # user 0 rated item 0 after item 1
    [0, 1]
    """
    def build(d: Interactions) -> np.ndarray:
        order = d.time_order()
        users = d.ratings["user"].to_numpy()[order]
        items = d.ratings["item"].to_numpy()[order]
        last = np.flatnonzero(np.r_[users[1:] != users[:-1], True]) if len(users) else np.zeros(0, np.int64)
        out = np.full(d.n_users, -1, np.int64)
        out[users[last]] = items[last]
        return out

    return history.view("last items", build)


class MarkovChain(Recommender):
    """First-order item-to-item Markov chain with additive smoothing and popularity backoff.

    For a user whose last item is ``i`` the score of item ``j`` is the smoothed transition
    probability::

        P(j | i) = (C[i, j] + smoothing + backoff * pop[j]) / (C[i].sum() + smoothing * n_items + backoff)

    where ``pop`` is the share of training interactions each item has. ``smoothing`` is Laplace
    smoothing (a pseudo-count for every pair); ``backoff`` spreads that many pseudo-counts in
    proportion to popularity, so an item with few or no observed successors falls back to the
    popular items, and ties among unseen successors are broken by popularity rather than by index.
    A user with no training history is scored by ``pop`` alone.

    Which "last item": the latest item of the user in the history given at scoring time (the
    training data by default; `reclab.evaluate` passes ``split.history(part)``: train for the
    validation item, train + valid for the test item, which follows the validation one). The
    transitions and the popularity are counted on ``train`` only, so one fit serves both parts,
    and an event added to a user's history moves their scores to the new item's row at once.

    Parameters
    ----------
    smoothing : additive pseudo-count per (i, j) pair, >= 0.
    backoff : pseudo-counts per row spread by popularity, >= 0.

    Deviations from FPMC (Rendle et al., 2010): no factorisation of the transition matrix and no
    user-specific (long-term taste) term; the chain is estimated by counting, not learned by BPR.
    Consecutive repeats of an item count as self-transitions (the evaluator masks seen items).
    """

    _state = ("transitions_", "popularity_")
    _shapes = {"transitions_": ("I", "I"), "popularity_": ("I",)}
    _params = {"smoothing": Real(0), "backoff": Real(0)}

    def __init__(self, *, smoothing: float = 0.0, backoff: float = 1.0):
        self.smoothing = smoothing
        self.backoff = backoff

    @property
    def last_item_(self) -> np.ndarray:
        """(n_users,) each user's latest training item, -1 for none (the default history's `last_items`)."""
        return last_items(self._fitted("train_"))

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self.transitions_ = transition_counts(train.sequences(), self.n_items_)
        counts = train.item_counts().astype(np.float64)
        self.popularity_ = (counts / counts.sum()).astype(np.float32)  # (n_items,)

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        last = last_items(history)[users]  # (B,), -1 where the user has no history
        known = last >= 0
        rows = self.transitions_[np.where(known, last, 0)].toarray()  # (B, n_items)
        rows[~known] = 0.0  # no last item: only the popularity prior is left
        # float(): a numpy scalar (np.int64(1)) would promote the float32 rows to float64; a Python number does not
        smoothing, backoff = float(self.smoothing), float(self.backoff)
        numerator = rows + smoothing + backoff * self.popularity_[None, :]
        denominator = rows.sum(axis=1, keepdims=True) + smoothing * self.n_items_ + backoff
        # a row with no counts and no pseudo-counts has no evidence at all: score it by popularity
        empty = denominator[:, 0] == 0
        numerator[empty], denominator[empty] = self.popularity_, 1.0
        return numerator / denominator

    def _item_vectors(self):
        # an item is described by where users go next from it: its row of transition counts
        return self.transitions_
