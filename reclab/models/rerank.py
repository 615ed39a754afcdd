"""Retrieve, then rerank: one model proposes candidates, a second reorders them.

Industrial recommenders are cascades (Covington et al., "Deep Neural Networks for YouTube
Recommendations", RecSys 2016): a cheap model retrieves a few hundred items from millions, a
costlier one ranks them. Large language models enter the same way, as rankers of a short
candidate list written into a prompt (Hou et al., "Large Language Models are Zero-Shot Rankers for
Recommender Systems", ECIR 2024). `Rerank` is that cascade for any two reclab models; notebook 09
uses SASRec as the retriever and `LMZeroShot` (MiniLM reading the history's titles) as the ranker,
an encoder standing in for the LLM that cannot run here.
"""
from __future__ import annotations

import numpy as np

from ..data import Interactions
from ..metrics import top_k
from .base import Int, Real, Recommender


def _standardise(x: np.ndarray) -> np.ndarray:
    """Each row centred and scaled to unit spread, ignoring NaN (a constant row becomes zeros)."""
    x = x - np.nanmean(x, axis=1, keepdims=True)
    spread = np.nanstd(x, axis=1, keepdims=True)
    return x / np.where(spread > 0, spread, 1.0)


class Rerank(Recommender):
    """``retriever``'s top ``n_candidates`` unseen items, reordered by a blend with ``ranker``'s scores.

    For each user the candidates are the ``n_candidates`` best items of ``retriever`` that are not
    in the history; within them the new score is ``(1 - weight) z(retriever) + weight z(ranker)``,
    where ``z`` standardises the scores over the user's candidates (so the two scales mix).
    ``weight=0`` gives the retriever's order, ``weight=1`` the ranker's order of the retriever's
    candidates; ties keep the retriever's order. A candidate's score is its new place counted from
    the bottom (n_candidates for the first, 1 for the last); every other item scores its retriever
    score minus the user's best retriever score minus 1 (below 0), so a list longer than
    ``n_candidates`` continues in the retriever's order.

    ``fit`` fits both models on ``train`` unless a model was already fitted on that very
    ``train`` object, which is kept as it is (so a trained retriever need not be trained again).
    Choose ``weight`` on the validation part (`reclab.evaluate(..., part="valid")`).

    Parameters
    ----------
    retriever, ranker : reclab recommenders (fitted or not).
    n_candidates : how many items the ranker sees per user.
    weight : the ranker's share of the blend, in [0, 1].

    Examples
    --------
    >>> model = Rerank(retriever=sasrec, ranker=LMZeroShot(), weight=0.3).fit(split.train)  # doctest: +SKIP
    """

    _params = {"n_candidates": Int(1), "weight": Real(0, 1)}

    def __init__(self, *, retriever: Recommender, ranker: Recommender, n_candidates: int = 50, weight: float = 0.5):
        self.retriever, self.ranker, self.n_candidates, self.weight = retriever, ranker, n_candidates, weight

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        if self.n_candidates > train.n_items:
            raise ValueError(f"n_candidates={self.n_candidates!r} is more than the {train.n_items} items; "
                             f"use n_candidates <= {train.n_items}.")
        for name in ("retriever", "ranker"):
            model = getattr(self, name)
            if not isinstance(model, Recommender):
                raise TypeError(f"{name} must be a reclab recommender, e.g. SASRec(), got {type(model).__name__}.")
            if getattr(model, "train_", None) is not train:
                model.fit(train, valid=valid)

    def candidates(self, users, *, history: Interactions | None = None) -> np.ndarray:
        """The retriever's ``n_candidates`` best unseen items per user (len(users), n_candidates)."""
        items, _ = self.retriever.recommend(np.atleast_1d(users), int(self.n_candidates), history=history)
        return np.atleast_2d(items)

    def _score(self, users: np.ndarray, history: Interactions) -> np.ndarray:
        scores = self.retriever.score(users, history=history)  # scored once: candidates and blend
        items, _ = top_k(scores, int(self.n_candidates), exclude=history.binary()[users])
        base = np.asarray(scores, np.float64)
        valid = items >= 0  # -1 pads a user with fewer than n_candidates unseen items
        rows = np.broadcast_to(np.arange(len(users))[:, None], items.shape)
        rows, cols = rows[valid], items[valid]
        ranked = np.asarray(self.ranker.score(users, history=history), np.float64)
        w = float(self.weight)
        blend = np.full(items.shape, np.nan)
        blend[valid] = 0.0
        for weight, scores in ((1 - w, base), (w, ranked)):
            z = np.full(items.shape, np.nan)
            z[valid] = scores[rows, cols]
            blend[valid] += weight * _standardise(z)[valid]
        # new order: by the blend, ties kept in retrieval order; padding (NaN) last
        order = np.lexsort((np.broadcast_to(np.arange(items.shape[1]), items.shape), -np.nan_to_num(blend, nan=-np.inf)))
        reordered = np.take_along_axis(items, order, 1)
        # candidates score n, n - 1, ..., 1; the other items keep the retriever's order below 0
        keep = reordered >= 0
        out = base - base.max(axis=1, keepdims=True) - 1.0 if base.size else base
        out[np.broadcast_to(np.arange(len(users))[:, None], items.shape)[keep], reordered[keep]] = \
            np.broadcast_to(np.arange(items.shape[1], 0, -1), items.shape)[keep]
        return out.astype(np.float32)

    def save(self, path):
        raise NotImplementedError("Rerank wraps two models: save Rerank.retriever and Rerank.ranker and refit the "
                                  "wrapper (fitting keeps models already fitted on the same train).")
