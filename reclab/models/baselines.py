"""Baselines every model must beat: `Random` and `Popularity`.

Popularity is a strong baseline on MovieLens because the data is dominated by a few blockbusters
(see notebook 00's long tail); a personalised model that cannot beat it has learned nothing useful.
"""
from __future__ import annotations

import numpy as np

from ..data import Interactions
from .base import Choice, Int, Recommender


class Random(Recommender):
    """Uniform random scores: the floor any recommender must clear.

    Scores are a deterministic function of ``(seed, user)``, so the same user gets the same list
    every time it is asked, whatever batch it comes in.
    """

    def __init__(self, *, seed: int = 0):
        self.seed = seed

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        pass

    _params = {"seed": Int()}

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        return np.stack([np.random.default_rng([self.seed, int(u)]).random(self.n_items_) for u in users])


class Popularity(Recommender):
    """Recommend what most people interacted with in training (the same list for everyone).

    ``by="users"`` counts distinct users per item; ``by="ratings"`` counts interactions (they differ
    only when a user interacts with an item more than once).
    """

    _state = ("counts_",)
    _shapes = {"counts_": ("I",)}

    def __init__(self, *, by: str = "users"):
        self.by = by

    _params = {"by": Choice("users", "ratings")}

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        if self.by == "users":
            self.counts_ = np.asarray(self.seen_.sum(axis=0), dtype=np.float32).ravel()
        else:
            self.counts_ = train.item_counts().astype(np.float32)

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        """The training counts, whatever the history: popularity is learned, not personal."""
        return np.broadcast_to(self.counts_, (len(users), self.n_items_))
