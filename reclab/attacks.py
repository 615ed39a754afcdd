"""Robustness: fake "shilling" profiles that push one item, and how much exposure they buy.

A push attack injects fake users who give a target item the highest rating and fill the rest of
their profile with other items so that they look like real users and land near them (Shyong K.
Lam and John Riedl, "Shilling Recommender Systems for Fun and Profit", WWW 2004; Bamshad Mobasher,
Robin Burke, Runa Bhaumik and Chad Williams, "Toward Trustworthy Recommender Systems: An Analysis
of Attack Models and Algorithm Robustness", ACM TOIT 7(4), 2007). Two filler strategies:

- ``"random"``: filler items drawn uniformly from the catalogue;
- ``"bandwagon"``: filler items drawn from the most popular ones, which makes the fake users
  neighbours of many real users.

Fillers carry their item's mean rating (the *average* attack's choice); each fake profile rates
the target last, so that sequence models read "after these comes the target". `exposure`
measures the share of real users whose top ``k`` holds the target. `degsim` is a simple detector:
fake profiles built by one recipe resemble each other far more than real users do (the "degree
of similarity with top neighbours" of Paul-Alexandru Chirita, Wolfgang Nejdl and Cristian Zamfir,
"Preventing Shilling Attacks in Online Recommender Systems", WIDM 2005). `rdma` is the other
signal of that paper, the *rating deviation from mean agreement*: how far a user's ratings stray
from each item's mean. The average attack copies the item means into its fillers, so its profiles
stray the least of all; an attack that rates its fillers at random strays the most.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .data import Interactions

__all__ = ["shilling", "exposure", "degsim", "rdma"]


def shilling(train: Interactions, target: int, *, n_fake: int = 50, n_filler: int = 30, filler: str = "bandwagon",
             n_popular: int = 100, seed: int = 0) -> Interactions:
    """``train`` plus ``n_fake`` fake users who rate ``target`` highest after ``n_filler`` filler items.

    Real users keep their indices; the fake ones follow (user ids ``"fake:0"``, ...), so a model
    fitted on the result still scores the real users by their usual index. Fake ratings come after
    every real one in time.
    """
    for name, value, low in (("n_fake", n_fake, 1), ("n_filler", n_filler, 0), ("n_popular", n_popular, 1)):
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low):
            raise ValueError(f"{name}={value!r} must be an int >= {low}.")
    if not (isinstance(target, (int, np.integer)) and 0 <= target < train.n_items):
        raise ValueError(f"target={target!r} must be an item index in [0, {train.n_items}).")
    if filler not in ("random", "bandwagon"):
        raise ValueError(f"filler={filler!r} is not a strategy; use 'random' or 'bandwagon'.")
    r = train.ratings
    counts = np.asarray(train.item_counts(), dtype=np.float64)
    pool = np.argsort(-counts, kind="stable")[:n_popular] if filler == "bandwagon" else np.arange(train.n_items)
    pool = pool[pool != target]
    if n_filler > len(pool):
        raise ValueError(f"n_filler={n_filler} exceeds the {len(pool)} items to fill from; lower it "
                         "(or raise n_popular for the bandwagon attack).")
    means = r.groupby("item")["rating"].mean().reindex(range(train.n_items)).fillna(r["rating"].mean()).to_numpy()
    rng = np.random.default_rng(seed)
    start, top = int(r["timestamp"].max()) + 1, float(r["rating"].max())
    rows = []
    for f in range(n_fake):
        items = np.append(rng.choice(pool, n_filler, replace=False), target)
        ratings = np.append(means[items[:-1]], top)
        rows.append(pd.DataFrame({"user": train.n_users + f, "item": items, "rating": ratings,
                                  "timestamp": start + np.arange(len(items))}))
    fake = pd.concat(rows, ignore_index=True).astype({c: r[c].dtype for c in ("user", "item", "rating", "timestamp")})
    user_ids = np.concatenate([np.asarray(train.user_ids, dtype=object), [f"fake:{f}" for f in range(n_fake)]])
    return replace(train, ratings=pd.concat([r[fake.columns], fake], ignore_index=True), users=None,
                   user_ids=user_ids, name=f"{train.name} + {n_fake} {filler} shills of item {target}")


def exposure(model, target: int, users, *, k: int = 10, history: Interactions | None = None) -> float:
    """The share of ``users`` whose top ``k`` (seen items masked) holds ``target``."""
    items, _ = model.recommend(np.asarray(users), k=k, history=history)
    return float((np.atleast_2d(items) == target).any(axis=1).mean())


def degsim(train: Interactions, *, k: int = 10) -> np.ndarray:
    """Each user's mean cosine similarity (binary rows) to their ``k`` most similar other users, (n_users,).

    Shills made by one recipe share most of their items, so they score near 1; drop the users with
    the highest values (``forget`` in `reclab.privacy` removes them) before fitting, as a defence.
    """
    if not (isinstance(k, (int, np.integer)) and 1 <= k < train.n_users):
        raise ValueError(f"k={k!r} must be an int in [1, {train.n_users - 1}]: the neighbours to average over.")
    from .models.knn import column_similarity

    S = column_similarity(train.binary().T, "cosine", k_neighbours=k)  # (n_users, n_users), k per row, no self
    return np.asarray(S.sum(axis=1), dtype=np.float64).ravel() / k  # pruned pairs share nothing: cosine 0


def rdma(train: Interactions) -> np.ndarray:
    """Each user's rating deviation from mean agreement (Chirita et al., WIDM 2005), shape (n_users,).

    ``RDMA_u = (1 / N_u) Σ_i |r_ui − mean_i| / NR_i`` over the ``N_u`` items user ``u`` rated, with
    ``mean_i`` and ``NR_i`` the mean and the number of ratings of item ``i`` in ``train``. Dividing by
    ``NR_i`` makes a deviation on a rarely rated item count more. NaN for users without ratings.

    Examples
    --------
    >>> r = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 1], "rating": [5.0, 3.0, 1.0, 3.0],
    ...                   "timestamp": [0, 1, 2, 3]})
    >>> rdma(Interactions.from_frames(r))   # item 0: mean 3 of 2 ratings, item 1: mean 3
    array([0.5, 0.5])
    """
    r = train.ratings
    by_item = r.groupby("item")["rating"]
    mean, n = by_item.transform("mean").to_numpy(), by_item.transform("size").to_numpy()
    deviation = pd.Series(np.abs(r["rating"].to_numpy() - mean) / n).groupby(r["user"].to_numpy()).mean()
    return deviation.reindex(range(train.n_users)).to_numpy(dtype=np.float64)
