"""Negative sampling for implicit feedback: items a user has *not* interacted with.

Shared by `BPR` (one negative per positive pair) and the NCF models (``n_negatives`` per pair).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["sample_negatives"]


def sample_negatives(seen: sp.csr_matrix, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One item per entry of ``users``, uniform over the items that user has *not* seen.

    Rejection sampling: draw uniformly over the catalogue and redraw the draws that hit a seen
    item, until none does. Every user must have at least one unseen item.

    Parameters
    ----------
    seen : sparse (n_users, n_items); a stored non-zero entry marks a seen pair (`Interactions.to_csr`).
    users : (N,) int array.
    rng : the random generator.

    Returns
    -------
    (N,) int64 array of item indices.

    Examples
    --------
    >>> seen = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]]))
    >>> sample_negatives(seen, np.array([0, 0, 1]), np.random.default_rng(0)).tolist()
    [2, 2, 0]
    """
    seen = sp.csr_matrix(seen, copy=True)  # copied: the two calls below work in place
    seen.eliminate_zeros()  # an explicitly stored 0 is not an interaction
    seen.sort_indices()
    n_items, per_user = seen.shape[1], np.diff(seen.indptr)
    full = np.unique(users[per_user[users] >= n_items])
    if len(full):
        raise ValueError(
            f"user {full[0]} has interacted with every item, so no negative can be sampled; drop that user."
        )
    # a seen (u, i) pair as one sorted int key, so membership is a binary search
    keys = np.repeat(np.arange(seen.shape[0], dtype=np.int64), per_user) * n_items + seen.indices
    items = rng.integers(n_items, size=len(users))
    todo = np.arange(len(users))
    while len(todo):
        query = users[todo].astype(np.int64) * n_items + items[todo]
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        todo = todo[keys[pos] == query]  # the draws that hit a seen item
        items[todo] = rng.integers(n_items, size=len(todo))
    return items.astype(np.int64)
