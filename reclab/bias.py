"""Popularity bias of recommendation lists: how much of the exposure goes to the already popular.

- average recommendation popularity (ARP): the mean number of training users of a recommended
  item (Himan Abdollahpouri, Robin Burke and Bamshad Mobasher, "Managing Popularity Bias in
  Recommender Systems with Personalized Re-ranking", FLAIRS 2019, who also define the long-tail
  share);
- the long-tail share: the share of list places given to items outside the *short head*, the
  most popular items that together collect ``head`` (default 20%) of the catalogue;
- exposure by popularity bin: the catalogue cut into bins of equal item counts by popularity,
  and the share of all list places each bin receives (a fair-exposure baseline is the bin's
  share of the catalogue).

`reclab.metrics.gini` and `reclab.metrics.coverage` complete the picture. `feedback_loop` simulates
what happens when a model is retrained on data its own recommendations produced (after Allison J.
B. Chaney, Brandon M. Stewart and Barbara E. Engelhardt, "How Algorithmic Confounding in
Recommendation Systems Increases Homogeneity and Decreases Utility", RecSys 2018).

`ips_mean` and `ips_evaluate` weigh each held-out interaction by the inverse of its *propensity*,
the chance that it was observed at all. Popular movies are seen, and so rated, far more often, so
a plain average over held-out ratings mostly asks "did you recommend the popular ones?". Inverse
propensity scoring (IPS) asks instead what the metric would be if every relevant item were as
likely to be observed (Tobias Schnabel, Adith Swaminathan, Ashudeep Singh, Navin Chandak and
Thorsten Joachims, "Recommendations as Treatments: Debiasing Learning and Evaluation", ICML 2016;
for top-k evaluation of implicit feedback, Longqi Yang, Yin Cui, Yuan Xuan, Chenyang Wang, Serge
Belongie and Deborah Estrin, "Unbiased Offline Recommender Evaluation for Missing-Not-At-Random
Implicit Feedback", RecSys 2018). Deviations from Yang et al.: the propensity is a power of the
item's observed popularity with the power a parameter (they derive it from a fitted power law),
and the estimator is the self-normalised one, which needs propensities only up to a constant.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["popularity_bias", "exposure_by_bin", "feedback_loop", "ips_mean", "ips_evaluate"]


def _lists_and_counts(lists, item_counts) -> tuple[np.ndarray, np.ndarray]:
    lists = np.atleast_2d(np.asarray(lists, dtype=np.int64))
    counts = np.asarray(item_counts, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any():
        raise ValueError("item_counts must be a 1-D array of non-negative counts, one per item "
                         "(e.g. split.train.item_counts()).")
    if lists.size and lists.max() >= len(counts):
        raise ValueError(f"lists holds item {lists.max()} but item_counts has {len(counts)} items.")
    return lists, counts


def _head(counts: np.ndarray, head: float) -> np.ndarray:
    """A boolean mask of the short head: the ceil(head · n_items) most popular items (ties by id)."""
    if not 0 < head < 1:
        raise ValueError(f"head={head!r} must be a share of the catalogue in (0, 1), e.g. 0.2.")
    order = np.argsort(-counts, kind="stable")
    mask = np.zeros(len(counts), dtype=bool)
    mask[order[: int(np.ceil(head * len(counts)))]] = True
    return mask


def popularity_bias(lists, item_counts, *, head: float = 0.2) -> dict[str, float]:
    """ARP and long-tail share of top lists.

    Parameters
    ----------
    lists : (n_users, k) recommended item ids, ``-1`` for empty places (left out).
    item_counts : (n_items,) training users per item (``split.train.item_counts()``).
    head : the share of the catalogue, most popular first, that forms the short head.

    Returns
    -------
    ``{"ARP": mean popularity of a recommended item, "long-tail share": share of places outside the
    short head}``.

    Examples
    --------
    >>> popularity_bias([[0, 1], [0, 2]], [10, 2, 0, 0, 0], head=0.2)
    {'ARP': 5.5, 'long-tail share': 0.5}
    """
    lists, counts = _lists_and_counts(lists, item_counts)
    shown = lists[lists >= 0]
    if shown.size == 0:
        raise ValueError("lists holds no item; nothing to measure.")
    return {"ARP": float(counts[shown].mean()), "long-tail share": float((~_head(counts, head))[shown].mean())}


def exposure_by_bin(lists, item_counts, *, n_bins: int = 5) -> pd.DataFrame:
    """The share of all list places that goes to each popularity bin of the catalogue.

    Items are sorted by popularity (most popular first, ties by id) and cut into ``n_bins`` bins of
    (nearly) equal size; bin 1 is the most popular. Columns: ``items`` (bin size), ``catalogue
    share``, ``exposure`` (share of places) and ``ratio`` (exposure / catalogue share: 1 is fair).
    """
    if not (isinstance(n_bins, (int, np.integer)) and 1 <= n_bins):
        raise ValueError(f"n_bins={n_bins!r} must be a positive int, e.g. 5.")
    lists, counts = _lists_and_counts(lists, item_counts)
    if n_bins > len(counts):
        raise ValueError(f"n_bins={n_bins} exceeds the {len(counts)} items.")
    order = np.argsort(-counts, kind="stable")
    bins = np.empty(len(counts), dtype=np.int64)
    for b, members in enumerate(np.array_split(order, n_bins)):
        bins[members] = b
    shown = lists[lists >= 0]
    exposure = np.bincount(bins[shown], minlength=n_bins) / max(len(shown), 1)
    sizes = np.bincount(bins, minlength=n_bins)
    share = sizes / len(counts)
    return pd.DataFrame({"items": sizes, "catalogue share": share, "exposure": exposure, "ratio": exposure / share},
                        index=pd.RangeIndex(1, n_bins + 1, name="bin"))


def feedback_loop(make_model, train, *, rounds: int = 3, k: int = 10, accept: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Retrain on accepted recommendations, round after round, and measure how concentrated they get.

    Each round fits ``make_model()`` on the current data, recommends ``k`` unseen items to every
    user, and each recommended item is *accepted* (added to the data as a new interaction, at a
    later time, with the user's mean rating) with probability ``accept``, independently. This is a
    deliberately simple user model: people take what they are shown at a fixed rate, whatever it
    is, so any rise in concentration comes from the model learning from its own output.

    Returns
    -------
    One row per round: ``round``, ``gini`` and ``coverage`` of the round's lists
    (`reclab.metrics`), ``ARP`` and ``long-tail share`` (`popularity_bias`, against the current
    data's counts), and ``added`` (interactions accepted in that round).
    """
    from . import metrics

    if not (isinstance(rounds, (int, np.integer)) and rounds >= 1):
        raise ValueError(f"rounds={rounds!r} must be a positive int.")
    if not 0 <= accept <= 1:
        raise ValueError(f"accept={accept!r} must be a probability in [0, 1].")
    rng = np.random.default_rng(seed)
    data, rows = train, []
    for round_ in range(1, rounds + 1):
        model = make_model().fit(data)
        users = np.arange(data.n_users)
        lists, _ = model.recommend(users, k=k, history=data)
        counts = np.asarray(data.item_counts())
        taken = (rng.random(lists.shape) < accept) & (lists >= 0)
        r = data.ratings
        u, slot = np.nonzero(taken)
        means = r.groupby("user")["rating"].mean().reindex(users).fillna(r["rating"].mean()).to_numpy()
        added = pd.DataFrame({"user": u, "item": lists[u, slot], "rating": means[u],
                              "timestamp": int(r["timestamp"].max()) + round_}).astype(
            {c: r[c].dtype for c in ("user", "item", "rating", "timestamp")})
        rows.append({"round": round_, "gini": metrics.gini(lists, data.n_items),
                     "coverage": metrics.coverage(lists, data.n_items), **popularity_bias(lists, counts),
                     "added": len(added)})
        data = data.with_ratings(pd.concat([r[added.columns], added], ignore_index=True), name=data.name)
    return pd.DataFrame(rows)


def ips_mean(values, items, item_counts, *, power: float = 0.5) -> float:
    """The self-normalised inverse-propensity mean of per-interaction ``values``.

    Each held-out interaction with item ``i`` was observed with a propensity ``p_i ∝ n_i ** power``
    (``n_i`` the item's observed popularity); the estimate is ``Σ v / p_i / Σ 1 / p_i``. With
    ``power=0`` it is the plain mean; the larger ``power``, the more a hit on a rarely observed item
    counts.

    Parameters
    ----------
    values : (n,) a metric per held-out interaction (e.g. per user under leave-last-out).
    items : (n,) the held-out item of each.
    item_counts : (n_items,) observed interactions per item; every held-out item needs one or more.
    power : the exponent of the propensity model, >= 0.

    Examples
    --------
    >>> ips_mean([1.0, 0.0, 1.0], [0, 1, 2], [4, 1, 1], power=1.0)   # weights 1/4, 1, 1
    0.5555555555555556
    """
    values = np.asarray(values, dtype=np.float64)
    items = np.asarray(items)
    counts = np.asarray(item_counts, dtype=np.float64)
    if not (isinstance(power, (int, float, np.integer, np.floating)) and power >= 0):
        raise ValueError(f"power={power!r} must be a number >= 0 (0 gives the plain mean; 0.5 to 1 are usual).")
    if values.ndim != 1 or items.shape != values.shape:
        raise ValueError(f"values {values.shape} and items {items.shape} must be 1-D and of one length.")
    if counts.ndim != 1 or not np.issubdtype(items.dtype, np.integer) or (items < 0).any() or (items >= len(counts)).any():
        raise ValueError(f"items must be int ids in [0, {len(counts)}), one per value, with item_counts 1-D.")
    if (counts[items] <= 0).any():
        raise ValueError("some held-out items have item_counts 0, so an infinite weight; count them in the data "
                         "they were observed in (e.g. history plus the held-out part).")
    weights = counts[items] ** -float(power)
    keep = np.isfinite(values)
    return float(np.sum(weights[keep] * values[keep]) / np.sum(weights[keep]))


def ips_evaluate(models: dict, split, *, k: int = 10, metrics=("HR", "NDCG"), power: float = 0.5,
                 part: str = "test") -> pd.DataFrame:
    """The plain and the inverse-propensity-weighted ranking metrics of several models, side by side.

    Parameters
    ----------
    models : ``{name: fitted model}``; a value may also be an (n_users, >= k) array of top lists.
    split : a split with one held-out item per user in ``part`` (`reclab.data.leave_last_out`).
    k, metrics : the cut-off and ranking metrics (HR, NDCG, MRR, ...).
    power : the propensity exponent of `ips_mean`; popularity is counted over the history and the
        held-out part together, so every held-out item has been observed.
    part : "valid" or "test"; users are scored from ``split.history(part)``, seen items masked.

    Returns
    -------
    A DataFrame indexed by model with, per metric, the columns ``"HR@10"`` and ``"HR@10 IPS"``.
    """
    from .evaluation import Evaluator

    if part not in ("valid", "test"):
        raise ValueError(f"part={part!r} is not supported; use 'valid' or 'test'.")
    history, target = split.history(part), getattr(split, part)
    evaluator = Evaluator(history, target, k=k, metrics=tuple(metrics))
    per_user_items = np.diff(evaluator.relevant.indptr)[evaluator.users]
    if (per_user_items != 1).any():
        raise ValueError(f"ips_evaluate needs one held-out item per user; {int((per_user_items > 1).sum())} users "
                         f"of {part} have several. Use leave_last_out, or ips_mean on per-interaction values.")
    held_out = evaluator.relevant.indices[evaluator.relevant.indptr[evaluator.users]]
    counts = np.asarray(history.then(target).binary().sum(axis=0)).ravel()
    rows = {}
    for name, model in models.items():
        if isinstance(model, np.ndarray):
            if model.ndim != 2 or model.shape[0] != history.n_users or model.shape[1] < k:
                raise ValueError(f"models[{name!r}] has shape {model.shape}; pass ({history.n_users}, >= {k}) lists.")
            per_user = evaluator.from_lists(model[evaluator.users], evaluator.users)
        else:
            per_user, _ = evaluator.run(model)
        row = {}
        for metric in metrics:
            values = per_user[(metric, k)]
            row[f"{metric}@{k}"] = float(np.nanmean(values))
            row[f"{metric}@{k} IPS"] = ips_mean(values, held_out, counts, power=power)
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")
