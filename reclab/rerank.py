"""Re-ranking a model's scores for more than accuracy: diversity (MMR) and calibration, and their metrics.

- `mmr`: maximal marginal relevance (Carbonell & Goldstein, "The Use of MMR, Diversity-Based
  Reranking for Reordering Documents and Producing Summaries", SIGIR 1998). Greedily pick the
  candidate with the best ``lam · relevance − (1 − lam) · max similarity to the items picked``.
- `calibrate`: calibrated recommendations (Harald Steck, "Calibrated Recommendations", RecSys 2018).
  Greedily pick the candidate that best trades relevance against the KL divergence between the
  genre distribution of the user's history and that of the list.
- `calibration_error`, with `reclab.metrics.diversity` (intra-list diversity): what the two
  re-rankers move, per list.

Both re-rankers work on the ``n_candidates`` best items of each row of ``scores`` (the usual
second stage of a cascade), with relevance min-max scaled to [0, 1] per user over those
candidates, so that ``lam`` means the same for every model. At the neutral setting (``lam=1`` for
MMR, ``lam=0`` for calibration) each returns the input ranking.

Items to leave out (a user's history) get ``-inf`` in ``scores`` before re-ranking, as in
`reclab.models.base.top_k`: they are never candidates.
"""
from __future__ import annotations

import numpy as np

__all__ = ["mmr", "calibrate", "calibration_error", "genre_distribution"]


def _check(scores, k: int, n_candidates: int, lam: float) -> tuple[np.ndarray, bool]:
    scores = np.asarray(scores, dtype=np.float64)
    single = scores.ndim == 1
    scores = np.atleast_2d(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores has shape {scores.shape}; pass (n_items,) or (n_users, n_items).")
    if not (isinstance(lam, (int, float, np.floating, np.integer)) and 0 <= lam <= 1):
        raise ValueError(f"lam={lam!r} must be a number in [0, 1].")
    for name, value in {"k": k, "n_candidates": n_candidates}.items():
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
            raise ValueError(f"{name}={value!r} must be a positive int.")
    if n_candidates < k:
        raise ValueError(f"n_candidates={n_candidates} is below k={k}; take at least k candidates.")
    if n_candidates > scores.shape[1]:
        raise ValueError(f"n_candidates={n_candidates} exceeds the {scores.shape[1]} items scored.")
    return scores, single


def _candidates(row: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best finite items of one row (best first, ties by id) and their relevance in [0, 1]."""
    order = np.argsort(-row, kind="stable")
    order = order[np.isfinite(row[order])][:n]
    rel = row[order]
    span = rel.max() - rel.min() if len(rel) else 0.0
    return order, (rel - rel.min()) / span if span > 0 else np.ones_like(rel)


def _unit(vectors) -> np.ndarray:
    v = np.asarray(vectors.toarray() if hasattr(vectors, "toarray") else vectors, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"item_vectors has shape {v.shape}; pass one row per item, (n_items, d).")
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def mmr(scores, item_vectors, lam: float, *, k: int = 10, n_candidates: int = 100) -> np.ndarray:
    """Maximal marginal relevance: top-``k`` lists that trade relevance against redundancy.

    Parameters
    ----------
    scores : (n_items,) or (n_users, n_items) model scores; ``-inf`` marks items to leave out.
    item_vectors : (n_items, d) item representations; similarity is their cosine (e.g. genre
        one-hots, MiniLM vectors, a model's item factors).
    lam : 1 keeps the model's ranking; smaller values penalise items similar to those already
        picked (0 picks by dissimilarity alone after the first item).
    k, n_candidates : list length; how many of the best-scored items are re-ranked.

    Returns
    -------
    (k,) or (n_users, k) int item ids, first picked first; ``-1`` where fewer candidates exist.

    Examples
    --------
    >>> mmr([3.0, 2.9, 1.0], np.array([[1, 0], [1, 0], [0, 1]]), lam=0.5, k=2, n_candidates=3)
    array([0, 2])
    """
    scores, single = _check(scores, k, n_candidates, lam)
    unit = _unit(item_vectors)
    if unit.shape[0] != scores.shape[1]:
        raise ValueError(f"item_vectors has {unit.shape[0]} rows but scores has {scores.shape[1]} items; "
                         "pass one vector per item.")
    out = np.full((len(scores), k), -1, dtype=np.int64)
    for u, row in enumerate(scores):
        items, rel = _candidates(row, n_candidates)
        sim = unit[items] @ unit[items].T  # (c, c)
        closest = np.full(len(items), -np.inf)  # max similarity to the picked items (none yet)
        free = np.ones(len(items), dtype=bool)
        for slot in range(min(k, len(items))):
            gain = lam * rel - (1 - lam) * np.where(np.isfinite(closest), closest, 0.0)
            gain[~free] = -np.inf
            best = int(np.argmax(gain))  # first of equal gains: the better-scored candidate
            out[u, slot], free[best] = items[best], False
            closest = np.maximum(closest, sim[best])
    return out[0] if single else out


def genre_distribution(item_genres) -> np.ndarray:
    """(n_items, n_genres) rows that sum to 1: each item's genres share its unit weight equally.

    Items without a genre get an all-zero row (they add nothing to a distribution).
    """
    G = np.asarray(item_genres.toarray() if hasattr(item_genres, "toarray") else item_genres, dtype=np.float64)
    if G.ndim != 2 or (G < 0).any():
        raise ValueError("item_genres must be a non-negative (n_items, n_genres) matrix, e.g. genre one-hots.")
    totals = G.sum(axis=1, keepdims=True)
    return np.divide(G, totals, out=np.zeros_like(G), where=totals > 0)


def _kl(p: np.ndarray, q: np.ndarray, alpha: float) -> float:
    """KL(p || q̃) with q̃ = (1 − alpha) q + alpha p, Steck's smoothing that keeps it finite."""
    q = (1 - alpha) * q + alpha * p
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def calibrate(scores, item_genres, target, lam: float, *, k: int = 10, n_candidates: int = 100,
              alpha: float = 0.01) -> np.ndarray:
    """Calibrated top-``k`` lists: the list's genre mix pulled towards the user's (Steck, RecSys 2018).

    Greedily adds the candidate maximising ``(1 − lam) · Σ relevance − lam · KL(p ‖ q̃)`` of the list
    so far, where ``p`` is the user's target genre distribution and ``q`` the mean genre
    distribution of the list's items (``genre_distribution``).

    Parameters
    ----------
    scores : (n_items,) or (n_users, n_items); ``-inf`` marks items to leave out.
    item_genres : (n_items, n_genres) non-negative genre weights (one-hots are fine).
    target : (n_genres,) or (n_users, n_genres) each user's genre distribution, e.g. of the history.
    lam : 0 keeps the model's ranking; 1 cares for calibration alone.
    k, n_candidates : list length; how many of the best-scored items are re-ranked.
    alpha : the smoothing of ``q`` in the KL divergence (Steck uses 0.01).

    Returns
    -------
    (k,) or (n_users, k) int item ids; ``-1`` where fewer candidates exist.
    """
    scores, single = _check(scores, k, n_candidates, lam)
    dist = genre_distribution(item_genres)
    if dist.shape[0] != scores.shape[1]:
        raise ValueError(f"item_genres has {dist.shape[0]} rows but scores has {scores.shape[1]} items.")
    target = np.atleast_2d(np.asarray(target, dtype=np.float64))
    if target.shape != (len(scores), dist.shape[1]):
        raise ValueError(f"target has shape {target.shape}; pass one genre distribution per user, "
                         f"({len(scores)}, {dist.shape[1]}).")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be in (0, 1).")
    out = np.full((len(scores), k), -1, dtype=np.int64)
    for u, row in enumerate(scores):
        items, rel = _candidates(row, n_candidates)
        p = target[u] / target[u].sum() if target[u].sum() > 0 else target[u]
        picked, total, mix = [], 0.0, np.zeros(dist.shape[1])
        free = np.ones(len(items), dtype=bool)
        for slot in range(min(k, len(items))):
            mixes = (mix[None, :] + dist[items]) / (slot + 1)  # (c, n_genres): the list with each candidate
            q = (1 - alpha) * mixes + alpha * p[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):  # genres outside p: masked by the where
                kl = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / q), 0.0).sum(axis=1)
            gain = (1 - lam) * (total + rel) - lam * kl
            gain[~free] = -np.inf
            best = int(np.argmax(gain))
            picked.append(items[best])
            total, mix, free[best] = total + rel[best], mix + dist[items[best]], False
        out[u, :len(picked)] = picked
    return out[0] if single else out


def calibration_error(lists, item_genres, target, *, alpha: float = 0.01) -> np.ndarray:
    """KL(p ‖ q̃) of each list's genre mix against the user's target distribution, shape (n_lists,)."""
    lists = np.atleast_2d(np.asarray(lists, dtype=np.int64))
    dist = genre_distribution(item_genres)
    target = np.atleast_2d(np.asarray(target, dtype=np.float64))
    if len(target) != len(lists):
        raise ValueError(f"target has {len(target)} rows for {len(lists)} lists; pass one per list.")
    out = np.full(len(lists), np.nan)
    for n, row in enumerate(lists):
        row = row[row >= 0]
        p = target[n] / target[n].sum() if target[n].sum() > 0 else target[n]
        if len(row):
            out[n] = _kl(p, dist[row].mean(axis=0), alpha)
    return out
