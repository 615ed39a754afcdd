"""Evaluation metrics for top-k recommendation and rating prediction, vectorised over users.

Ranking metrics take ``topk``, an int array ``(n_users, k_max)`` of item indices in rank order
(column 0 is the best; ``-1`` pads short lists and is never a hit), and ``relevant``, the held-out
items per user as a CSR matrix ``(n_users, n_items)`` or a list of int arrays. They return one float
per user so that the evaluator can average and build confidence intervals; users with no relevant
item are undefined and get NaN (the evaluator drops them and reports how many). Every function works
on any batch of users. Beyond-accuracy metrics (coverage, novelty, diversity, Gini) look at the
lists alone.

References: Järvelin & Kekäläinen, "Cumulated gain-based evaluation of IR techniques", ACM TOIS
2002 (nDCG); Krichene & Rendle, "On sampled metrics for item recommendation", KDD 2020 (why we rank
the full catalogue, not a sample); Vargas & Castells, "Rank and relevance in novelty and diversity
metrics for recommender systems", RecSys 2011 (novelty, intra-list diversity).
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

Relevant = Union[sp.spmatrix, sp.sparray, np.ndarray, Sequence[ArrayLike]]

__all__ = ["top_k", "precision_at_k", "recall_at_k", "f1_at_k", "hit_rate_at_k", "ndcg_at_k",
           "mrr_at_k", "map_at_k", "accuracy_at_k", "auc", "rmse", "mae", "rating_accuracy",
           "coverage", "novelty", "diversity", "gini"]


# ----------------------------------------------------------------------------- input checks
def _as_2d(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_users, ...), got shape {x.shape}; "
                         f"reshape a single user's row with {name}[None, :]")
    return x


def _as_topk(topk, k: int | None = None, n_items: int | None = None) -> np.ndarray:
    t = _as_2d(topk, "topk")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"topk must hold integer item indices, got dtype {t.dtype}; "
                         "pass the items returned by top_k, not the scores")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= t.shape[1]:
            raise ValueError(f"k must be an int in [1, topk.shape[1]={t.shape[1]}], got {k!r}; "
                             f"ask top_k for at least k items")
        t = t[:, :k]
    t = t.astype(np.int64, copy=False)
    if t.size and t.min() < -1:
        raise ValueError(f"topk holds item index {t.min()}; only -1 (padding) may be negative")
    if n_items is not None and t.size and t.max() >= n_items:
        raise ValueError(f"topk holds item index {t.max()} but n_items={n_items}; "
                         "use item indices in [0, n_items) or pass the right n_items")
    s = np.sort(t, axis=1)
    if np.any((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)):
        raise ValueError("topk repeats an item within a user's list; each item may appear once")
    return t


def _as_relevant(relevant: Relevant, n_users: int, n_items: int | None = None) -> sp.csr_matrix:
    """Canonical CSR (sorted, deduplicated, no explicit zeros) of shape (n_users, n_items)."""
    if sp.issparse(relevant) or (isinstance(relevant, np.ndarray) and relevant.ndim == 2):
        rel = sp.csr_matrix(relevant, copy=True)
        if n_items is not None and rel.shape[1] != n_items:
            raise ValueError(f"relevant has {rel.shape[1]} items but scores has {n_items}; "
                             "use the same item index space")
    elif isinstance(relevant, (list, tuple)) or (isinstance(relevant, np.ndarray)
                                                  and relevant.dtype == object):
        rows = [np.asarray(r, dtype=np.int64).ravel() for r in relevant]
        idx = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        width = idx.max(initial=-1) + 1 if n_items is None else n_items
        if idx.size and (idx.min() < 0 or idx.max() >= width):
            raise ValueError(f"relevant holds item index {idx.min() if idx.min() < 0 else idx.max()}"
                             f"; item indices must lie in [0, n_items={width})")
        indptr = np.concatenate([[0], np.cumsum([r.size for r in rows], dtype=np.int64)])
        rel = sp.csr_matrix((np.ones(idx.size), idx, indptr), shape=(len(rows), width))
    else:
        raise TypeError("relevant must be a scipy.sparse matrix (n_users, n_items) or a list of "
                        f"int arrays, got {type(relevant).__name__}")
    if rel.shape[0] != n_users:
        raise ValueError(f"relevant has {rel.shape[0]} users but topk/scores has {n_users}; "
                         "pass the relevant rows of the same batch of users")
    rel.sum_duplicates()
    rel.eliminate_zeros()
    return rel


def _hits(topk, relevant: Relevant, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lists cut at k, boolean hits ``(n_users, k)`` and n_relevant per user."""
    t = _as_topk(topk, k)
    rel = _as_relevant(relevant, t.shape[0])
    n_users, n_items = rel.shape
    if t.size and t.max() >= n_items:
        if sp.issparse(relevant) or isinstance(relevant, np.ndarray) and relevant.ndim == 2:
            raise ValueError(f"topk holds item index {t.max()} but relevant has only {n_items} "
                             "items; build relevant with shape (n_users, n_items)")
        n_items = int(t.max()) + 1  # a list of arrays carries no catalogue size
    # Global keys user * n_items + item are sorted in a canonical CSR, so one searchsorted
    # finds every (user, item) of the lists: O(n k log nnz) time, no densified batch.
    keys = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(rel.indptr)) * n_items
    keys += rel.indices
    q = np.arange(n_users, dtype=np.int64)[:, None] * n_items + t
    pos = np.minimum(np.searchsorted(keys, q), max(keys.size - 1, 0))
    hits = (keys[pos] == q) & (t >= 0) if keys.size else np.zeros(t.shape, bool)
    return t, hits, np.diff(rel.indptr).astype(float)


def _undefined(values: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    values = values.astype(float)
    values[n_rel == 0] = np.nan
    return values


def _mask(exclude, shape: tuple[int, int]) -> np.ndarray:
    """Dense boolean (n_users, n_items) from a sparse matrix or array-like mask."""
    if sp.issparse(exclude):
        excl = np.zeros(exclude.shape, bool)
        excl[exclude.nonzero()] = True  # no float densification: 1024 x 60k stays 60 MB
    else:
        excl = _as_2d(exclude, "exclude").astype(bool)
    if excl.shape != shape:
        raise ValueError(f"exclude has shape {excl.shape} but scores has {shape}; "
                         "pass the mask of the same users and items")
    return excl


# ----------------------------------------------------------------------------- top-k
def top_k(scores: ArrayLike, k: int, exclude: ArrayLike | sp.spmatrix | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items per user, in rank order.

    Parameters
    ----------
    scores : array (n_users, n_items), numpy or torch; NaN is rejected.
    k : int >= 1.
    exclude : CSR matrix or boolean array (n_users, n_items), optional
        Items that may not be recommended (typically the user's training items).

    Returns
    -------
    items : int64 array (n_users, k); scores : float array (n_users, k).
        Equal scores rank the lower item index first, so results are deterministic. Excluded items
        never appear: when fewer than ``k`` items remain (or ``k > n_items``) the list is padded
        with item ``-1`` and score ``-inf``. Cost is O(n_items) per user (a partition finds the
        k-th best score, then only the k winners are sorted).

    Examples
    --------
    >>> top_k(np.array([[0.1, 0.9, 0.5, 0.9]]), 3)[0]
    array([[1, 3, 2]])
    >>> top_k(np.array([[0.1, 0.9, 0.5]]), 3, exclude=np.array([[False, True, False]]))[0]
    array([[ 2,  0, -1]])
    """
    s = _as_2d(scores, "scores")
    s = s.astype(np.result_type(s.dtype, np.float32))  # a copy: excluded items are overwritten
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; replace them (e.g. with -inf) before ranking")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    n_users, n_items = s.shape
    excl = None if exclude is None else _mask(exclude, s.shape)
    if excl is not None:
        s[excl] = -np.inf
    kk = min(int(k), n_items)
    if kk == 0:
        return np.full((n_users, k), -1, np.int64), np.full((n_users, k), -np.inf, s.dtype)
    v = np.partition(s, n_items - kk, axis=1)[:, n_items - kk][:, None]  # k-th best score
    sel = s > v
    need = kk - sel.sum(axis=1)  # slots left for items tied at v: lowest index first,
    r, c = np.nonzero(s == v)  # non-excluded before excluded (those become padding)
    if excl is not None:
        order = np.lexsort((c, excl[r, c], r))
        r, c = r[order], c[order]
    rank_in_row = np.arange(r.size) - np.searchsorted(r, np.arange(n_users))[r]
    keep = rank_in_row < need[r]
    sel[r[keep], c[keep]] = True
    cols = np.nonzero(sel)[1].reshape(n_users, kk)  # ascending item index within each row
    vals = np.take_along_axis(s, cols, axis=1)
    flag = np.take_along_axis(excl, cols, axis=1) if excl is not None else np.zeros_like(cols)
    order = np.lexsort((cols, -vals, flag), axis=1)
    items, vals = np.take_along_axis(cols, order, 1), np.take_along_axis(vals, order, 1)
    pad = np.take_along_axis(flag, order, 1).astype(bool)
    items[pad], vals[pad] = -1, -np.inf
    if k > kk:
        items = np.pad(items, ((0, 0), (0, k - kk)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return items, vals


# ----------------------------------------------------------------------------- ranking metrics
def precision_at_k(topk: ArrayLike, relevant: Relevant, k: int) -> np.ndarray:
    """Hits in the first ``k`` positions divided by ``k`` (padding counts as a miss), per user.

    >>> precision_at_k(np.array([[3, 1, 2]]), [np.array([2, 5])], 2)
    array([0.])
    """
    return _precision(*_hits(topk, relevant, k)[1:], k)


def _precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _undefined(hits.sum(axis=1) / k, n_rel)


def recall_at_k(topk: ArrayLike, relevant: Relevant, k: int, capped: bool = False) -> np.ndarray:
    """Hits in the top ``k`` divided by the number of relevant items, per user.

    ``capped=True`` divides by ``min(k, n_relevant)`` instead, so a perfect list scores 1 even
    when a user has more than ``k`` relevant items.

    >>> recall_at_k(np.array([[3, 2, 1]]), [np.array([2, 5])], 2)
    array([0.5])
    """
    return _recall(*_hits(topk, relevant, k)[1:], k, capped)


def _recall(hits: np.ndarray, n_rel: np.ndarray, k: int, capped: bool = False) -> np.ndarray:
    denom = np.minimum(n_rel, k) if capped else n_rel
    with np.errstate(invalid="ignore", divide="ignore"):
        return _undefined(hits.sum(axis=1) / denom, n_rel)


def f1_at_k(topk: ArrayLike, relevant: Relevant, k: int, capped: bool = False) -> np.ndarray:
    """Harmonic mean of precision@k and recall@k (0 when there is no hit), per user.

    >>> f1_at_k(np.array([[3, 2, 1]]), [np.array([2, 5])], 2)  # P = 1/2, R = 1/2
    array([0.5])
    """
    _, hits, n_rel = _hits(topk, relevant, k)
    n_hit = hits.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # 2PR/(P+R) = 2 hits / (k + denom)
        f1 = 2 * n_hit / (k + (np.minimum(n_rel, k) if capped else n_rel))
    return _undefined(f1, n_rel)


def hit_rate_at_k(topk: ArrayLike, relevant: Relevant, k: int) -> np.ndarray:
    """1 if any relevant item is in the top ``k``, else 0, per user.

    >>> hit_rate_at_k(np.array([[3, 2], [0, 1]]), [[2], [5]], 2)
    array([1., 0.])
    """
    return _hit_rate(*_hits(topk, relevant, k)[1:], k)


def _hit_rate(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _undefined(hits.any(axis=1), n_rel)


def ndcg_at_k(topk: ArrayLike, relevant: Relevant, k: int) -> np.ndarray:
    """Normalised discounted cumulative gain with binary relevance, per user.

    DCG = sum over hit positions p (1-based) of 1/log2(p + 1); the ideal DCG puts
    ``min(n_relevant, k)`` hits at the top (Järvelin & Kekäläinen 2002).

    >>> ndcg_at_k(np.array([[7, 3]]), [[3]], 2)  # (1/log2(3)) / 1
    array([0.63092975])
    """
    return _ndcg(*_hits(topk, relevant, k)[1:], k)


def _ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_rel, k).astype(int)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return _undefined((hits @ disc) / ideal, n_rel)


def mrr_at_k(topk: ArrayLike, relevant: Relevant, k: int) -> np.ndarray:
    """Reciprocal rank of the first hit (1/position, 1-based), 0 if none in the top ``k``.

    >>> mrr_at_k(np.array([[7, 3, 4]]), [[3, 4]], 3)
    array([0.5])
    """
    return _mrr(*_hits(topk, relevant, k)[1:], k)


def _mrr(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    rr = np.where(hits.any(axis=1), 1.0 / (hits.argmax(axis=1) + 1), 0.0)
    return _undefined(rr, n_rel)


def map_at_k(topk: ArrayLike, relevant: Relevant, k: int) -> np.ndarray:
    """Average precision truncated at ``k``, per user (its mean over users is MAP@k).

    AP@k = sum over hit positions p of precision@p, divided by ``min(n_relevant, k)`` (not by
    ``n_relevant``), so a list whose k items are all relevant scores 1.

    >>> map_at_k(np.array([[3, 7, 4]]), [[3, 4]], 3)  # (1/1 + 2/3) / 2
    array([0.83333333])
    """
    return _map(*_hits(topk, relevant, k)[1:], k)


def _map(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    prec = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _undefined((prec * hits).sum(axis=1) / np.minimum(n_rel, k), n_rel)


def accuracy_at_k(topk: ArrayLike, relevant: Relevant, k: int,
                  n_candidates: int | ArrayLike) -> np.ndarray:
    """Classification accuracy (TP + TN) / n_candidates, the top ``k`` being "predicted positive".

    ``n_candidates`` (int or array per user) is how many items could have been recommended; all
    relevant items are assumed to be among them. With thousands of candidates and a handful of
    relevant items almost every item is a true negative, so this is ≈ 1 for every model, even a
    random one: accuracy is useless for ranking, which is why the field uses precision, recall, nDCG.

    >>> accuracy_at_k(np.array([[3, 2]]), [[2, 5]], 2, 1000)  # TP=1 FP=1 FN=1 -> 998/1000
    array([0.998])
    """
    t, hits, n_rel = _hits(topk, relevant, k)
    n_cand = np.broadcast_to(np.asarray(n_candidates, dtype=float), n_rel.shape)
    tp = hits.sum(axis=1)
    fp = (t >= 0).sum(axis=1) - tp
    tn = n_cand - tp - fp - (n_rel - tp)
    if np.any(tn < 0) or np.any(n_cand <= 0):
        raise ValueError("n_candidates is smaller than the recommended plus relevant items of some "
                         "user; pass the number of items each user could be recommended")
    return _undefined((tp + tn) / n_cand, n_rel)


def auc(scores: ArrayLike, relevant: Relevant, exclude: ArrayLike | sp.spmatrix | None = None
        ) -> np.ndarray:
    """Per-user ROC AUC of the full score vector.

    The fraction of (relevant, non-relevant) pairs where the relevant item scores higher; ties
    count 1/2. Excluded items (e.g. training items) take no part, even if relevant. Computed from
    the relevant items' average ranks (Mann-Whitney U): one sort per row, then a binary search run
    for all relevant items at once; no pairs. NaN when a user has no relevant or no non-relevant
    item left.

    >>> auc(np.array([[0.9, 0.1, 0.5, 0.5]]), [[0, 2]])  # pairs: 0>1, 0>3, 2>1, 2=3 -> 3.5/4
    array([0.875])
    """
    s = _as_2d(scores, "scores")
    s = s.astype(np.result_type(s.dtype, np.float32))  # a copy: excluded items become NaN
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; replace them (e.g. with -inf) before computing AUC")
    pos = _mask(_as_relevant(relevant, s.shape[0], s.shape[1]), s.shape)
    if exclude is not None:
        excl = _mask(exclude, s.shape)
        s[excl] = np.nan
        pos &= ~excl
    srt = np.sort(s, axis=1)  # excluded (NaN) sort last and compare False: out of every count
    r, c = np.nonzero(pos)
    x = s[r, c]
    lo, hi = np.zeros((2, x.size), np.int64), np.full((2, x.size), s.shape[1])
    for _ in range(int(np.ceil(np.log2(s.shape[1] + 1)))):  # binary search, all items at once
        mid = np.minimum((lo + hi) // 2, s.shape[1] - 1)
        v = srt[r, mid]
        below = np.stack([v[0] < x, v[1] <= x]) & (lo < hi)  # counts of < x and of <= x
        lo, hi = np.where(below, mid + 1, lo), np.where(below | (lo >= hi), hi, mid)
    ranks = (lo[0] + lo[1] + 1) / 2  # average 1-based rank among the non-excluded items
    n_pos = pos.sum(axis=1)
    n_neg = (~np.isnan(s)).sum(axis=1) - n_pos
    u = np.bincount(r, weights=ranks, minlength=s.shape[0]) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


# ----------------------------------------------------------------------------- rating prediction
def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"y_true has shape {a.shape} but y_pred has {b.shape}; "
                         "pass one prediction per true rating")
    if a.size == 0:
        raise ValueError("y_true and y_pred are empty; there is nothing to evaluate")
    for name, x in (("y_true", a), ("y_pred", b)):
        if np.isnan(x).any():
            raise ValueError(f"{name} contains {np.isnan(x).sum()} NaN values; "
                             "drop or impute them first")
    return a.ravel(), b.ravel()


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error. ``rmse([1, 2], [1, 4])`` is ``sqrt(2) ≈ 1.414``."""
    a, b = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error. ``mae([1, 2], [1, 4])`` is ``1.0``."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b)))


def rating_accuracy(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 4.0) -> float:
    """Like/dislike accuracy: the share of ratings where ``y >= threshold`` agrees.

    >>> rating_accuracy([5, 3, 4, 1], [4.2, 3.9, 3.5, 2.0])  # agree, agree, disagree, agree
    0.75
    """
    a, b = _pair(y_true, y_pred)
    return float(np.mean((a >= threshold) == (b >= threshold)))


# ----------------------------------------------------------------------------- beyond accuracy
def _counts(topk, n_items: int, k: int | None) -> np.ndarray:
    t = _as_topk(topk, k, n_items)
    return np.bincount(t[t >= 0], minlength=n_items)


def coverage(topk: ArrayLike, n_items: int, k: int | None = None) -> float:
    """Fraction of the catalogue that appears in at least one list (first ``k`` columns if given).

    >>> coverage(np.array([[0, 1], [1, -1]]), 4)
    0.5
    """
    return float((_counts(topk, n_items, k) > 0).mean())


def gini(topk: ArrayLike, n_items: int, k: int | None = None) -> float:
    """Gini coefficient of how often each catalogue item is recommended.

    0 when every item is recommended equally often; ``1 - 1/n_items`` (→ 1) when one item takes
    all slots. NaN when the lists are empty.

    >>> gini(np.array([[0], [0]]), 2)  # counts [2, 0]
    0.5
    """
    x = np.sort(_counts(topk, n_items, k)).astype(float)
    n = x.size
    if x.sum() == 0:
        return float("nan")
    return float(((2 * np.arange(1, n + 1) - n - 1) @ x) / (n * x.sum()))


def novelty(topk: ArrayLike, item_counts: ArrayLike, n_users: int, k: int | None = None
            ) -> np.ndarray:
    """Mean self-information ``-log2(item_counts[i] / n_users)`` of each user's recommended items.

    ``item_counts`` (n_items,) is how many (training) users interacted with each item. An item
    with count 0 is treated as count 1, so the value stays finite. NaN for an all-padding list.

    >>> novelty(np.array([[0, 1]]), np.array([4, 1]), 4)  # (log2(1) + log2(4)) / 2
    array([1.])
    """
    counts = np.asarray(item_counts, dtype=float)
    if counts.ndim != 1 or not np.all((counts >= 0) & (counts <= n_users)) or n_users < 1:
        raise ValueError("item_counts must be a 1-D array of counts in [0, n_users] and "
                         f"n_users >= 1 (got n_users={n_users}); count users per item, not ratings")
    t = _as_topk(topk, k, counts.size)
    info = -np.log2(np.maximum(counts, 1) / n_users)
    valid = t >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, info[t], 0.0).sum(axis=1) / valid.sum(axis=1)


def diversity(topk: ArrayLike, item_features: ArrayLike | sp.spmatrix, k: int | None = None
              ) -> np.ndarray:
    """Intra-list diversity: mean of ``1 - cosine(f_i, f_j)`` over the pairs of each list.

    ``item_features`` is dense or sparse ``(n_items, d)``: one-hot genres or embeddings. An item
    with an all-zero feature row has similarity 0 to everything. NaN for lists with < 2 items.
    Uses sum_{i<j} cos = (|sum_i f_i|^2 - sum_i |f_i|^2) / 2 on unit rows: no k x k matrices.

    >>> diversity(np.array([[0, 1, 2]]), np.array([[1, 0], [1, 0], [0, 1]]))  # 1 - 1/3
    array([0.66666667])
    """
    f = sp.csr_matrix(item_features, dtype=float) if sp.issparse(item_features) else \
        _as_2d(item_features, "item_features").astype(float)
    t = _as_topk(topk, k, f.shape[0])
    norms = np.sqrt(np.asarray(f.multiply(f).sum(axis=1)).ravel() if sp.issparse(f)
                    else (f * f).sum(axis=1))
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = sp.diags(scale) @ f if sp.issparse(f) else f * scale[:, None]
    valid = t >= 0
    n_users, m = t.shape[0], valid.sum(axis=1)
    lists = sp.csr_matrix((np.ones(valid.sum()), t[valid], np.concatenate([[0], np.cumsum(m)])),
                          shape=(n_users, f.shape[0]))
    summed = lists @ unit
    sq = (np.asarray(summed.multiply(summed).sum(axis=1)).ravel() if sp.issparse(summed)
          else (summed * summed).sum(axis=1))
    self_sim = lists @ (norms > 0).astype(float)
    pairs = m * (m - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m >= 2, 1 - (sq - self_sim) / 2 / pairs, np.nan)


# the per-user metrics of a (n_users, k) hit matrix: `reclab.evaluation` finds the hits of a batch
# once at the largest k and slices them for each (metric, k)
FROM_HITS = {"HR": _hit_rate, "NDCG": _ndcg, "MRR": _mrr, "MAP": _map, "Precision": _precision, "Recall": _recall}
