"""Synthetic interactions with planted structure, so tests can check that a model *learns*.

Two kinds of structure are planted at once:

- **taste clusters**: items are split into ``n_clusters`` groups and each user belongs to one; a
  user's interactions come from their cluster (up to ``noise``). Collaborative filtering should
  recover the clusters and beat popularity by a wide margin.
- **a Markov chain**: each item has one fixed successor in its cluster; with probability
  ``p_follow`` a user's next item is the successor of the previous one. Sequential models should
  predict the successor; non-sequential ones cannot.

The truth is returned with the data: ``items["cluster"]``, ``items["next_item"]`` (the successor's
index) and ``users["cluster"]``.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .interactions import Interactions


def make_synthetic(
    n_users: int = 300,
    n_items: int = 120,
    *,
    n_clusters: int = 4,
    length: tuple[int, int] = (15, 40),
    p_follow: float = 0.7,
    noise: float = 0.05,
    seed: int = 0,
) -> Interactions:
    """Generate interactions with planted clusters and Markov-chain sequences.

    Parameters
    ----------
    n_users, n_items : sizes; ``n_items`` must be at least ``2 * n_clusters``.
    n_clusters : number of taste clusters.
    length : (min, max) number of interactions per user, inclusive.
    p_follow : probability that the next item is the chain successor of the previous one.
    noise : probability that an interaction is a uniformly random item (any cluster).
    seed : random seed; the same seed gives the same data.

    Sizes and ``seed`` are integers (numpy integers too); sizes are at least 1.

    Ratings are 5 for in-cluster items and 1–2 for noise, so explicit models see the clusters too.
    A user may meet an item more than once (a chain cycles); repeats are real interactions.

    Examples
    --------
    >>> data = make_synthetic(n_users=50, n_items=40, seed=1)
    >>> data.n_users, data.n_items
    (50, 40)
    """
    for name, value in (("n_users", n_users), ("n_items", n_items), ("n_clusters", n_clusters), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name}={value!r} must be an integer (Python or numpy), e.g. {name}=10.")
        if value < (0 if name == "seed" else 1):
            raise ValueError(f"{name}={int(value)} must be at least {0 if name == 'seed' else 1}.")
    if n_items < 2 * n_clusters:
        raise ValueError(f"n_items={n_items} is too small for n_clusters={n_clusters}; use n_items >= {2 * n_clusters}.")
    if not (1 <= length[0] <= length[1]):
        raise ValueError(f"length={length!r} must be (min, max) with 1 <= min <= max, e.g. (15, 40).")
    for name, p in (("p_follow", p_follow), ("noise", noise)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name}={p!r} must be a probability in [0, 1].")
    rng = np.random.default_rng(seed)
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters)
    members = [np.flatnonzero(item_cluster == c) for c in range(n_clusters)]
    successor = np.empty(n_items, np.int64)
    for group in members:  # one random cycle through each cluster
        cycle = rng.permutation(group)
        successor[cycle] = np.roll(cycle, -1)
    user_cluster = rng.integers(n_clusters, size=n_users)

    rows_u, rows_i, rows_r = [], [], []
    for u in range(n_users):
        group = members[user_cluster[u]]
        n = rng.integers(length[0], length[1] + 1)
        item = rng.choice(group)
        for _ in range(n):
            if rng.random() < noise:
                nxt, rating = rng.integers(n_items), rng.integers(1, 3)
            else:
                nxt = successor[item] if rng.random() < p_follow else rng.choice(group)
                item, rating = nxt, 5
            rows_u.append(u)
            rows_i.append(nxt)
            rows_r.append(rating)
    n_rows = len(rows_u)
    # one interaction per "day" per user, users interleaved, so temporal splits are meaningful
    positions = np.concatenate([np.arange(c) for c in np.bincount(rows_u, minlength=n_users)])
    timestamps = 1_600_000_000 + positions * 86_400 + np.asarray(rows_u) * 60
    ratings = pd.DataFrame(
        {"user_id": rows_u, "item_id": rows_i, "rating": np.asarray(rows_r, np.float32), "timestamp": timestamps}
    )
    assert len(ratings) == n_rows
    items = pd.DataFrame(
        {
            "item_id": np.arange(n_items),
            "title": [f"item {i}" for i in range(n_items)],
            "year": pd.array(2000 + item_cluster, dtype="Int64"),
            "genres": [[f"cluster {c}"] for c in item_cluster],
            "cluster": item_cluster,
            "next_item": successor,
        }
    )
    users = pd.DataFrame({"user_id": np.arange(n_users), "cluster": user_cluster})
    return Interactions.from_frames(
        ratings, items, users, name="synthetic", source=f"make_synthetic(seed={seed})"
    )
