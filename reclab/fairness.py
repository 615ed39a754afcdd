"""Accuracy by user group: is a model as good for women as for men, for the young as for the old?

After Michael D. Ekstrand, Mucun Tian, Ion Madrazo Azpiazu, Jennifer D. Ekstrand, Oghenemaro Anuyah,
David McNeill and Maria Soledad Pera, "All The Cool Kids, How Do They Fit In?: Popularity and
Demographic Biases in Recommender Evaluation and Effectiveness", FAT* 2018, who found that
recommenders on MovieLens serve some demographic groups measurably better than others.

`by_group` splits one evaluation's per-user values by a user attribute (from
``data.users``, e.g. ``gender`` or age bands), gives each group its mean with a bootstrap
interval, and tests each group against all other users (`reclab.stats.group_test`), so that a gap
inside the noise is called so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Split
from .evaluation import Evaluator
from .stats import bootstrap_ci, group_test

__all__ = ["by_group", "age_bands", "user_column"]


def user_column(data, groups):
    """``groups`` itself, or, when it is a string, that column of ``data.users`` (KeyError if absent)."""
    if not isinstance(groups, str):
        return groups
    users = data.users
    if users is None or groups not in users.columns:
        have = [] if users is None else list(users.columns)
        raise KeyError(f"groups={groups!r} is not a column of the user table (it has {have}); pass one of them, "
                       "or an array with a label per user.")
    return users[groups].to_numpy()


def age_bands(ages, edges=(18, 25, 35, 45, 50, 56)) -> pd.Series:
    """MovieLens-style age bands ("under 18", "18-24", ..., "56+") for an array of ages."""
    ages = pd.Series(np.asarray(ages))
    labels = [f"under {edges[0]}"] + [f"{lo}-{hi - 1}" for lo, hi in zip(edges, edges[1:])] + [f"{edges[-1]}+"]
    return pd.cut(ages, [-np.inf, *edges, np.inf], right=False, labels=labels).astype(str)


def by_group(model, split: Split, groups, *, k: int = 10, metric: str = "NDCG", part: str = "test",
             ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One metric of ``model`` per group of users, each group tested against everyone else.

    Parameters
    ----------
    model : a fitted recommender.
    split : the split it was fitted on; ``part`` ("valid" or "test") is evaluated, the history
        scored from and masked as in `reclab.evaluate`.
    groups : (n_users,) a group label per user (0-based user index order), e.g.
        ``data.users["gender"]`` or ``age_bands(data.users["age"])``, or the name of a column of
        ``split.train.users`` (``"gender"``); missing labels leave the user out.
    k, metric : the cut-off and a ranking metric (HR, NDCG, MRR, MAP, Precision, Recall).
    ci, seed : the bootstrap intervals and the permutation test (`reclab.stats.group_test`).

    Returns
    -------
    A DataFrame indexed by group: ``n_users``, ``value``, ``lo``, ``hi``, and ``gap``, ``gap lo``,
    ``gap hi``, ``p`` for the group's mean minus the mean of all other users.
    """
    if part not in ("valid", "test"):
        raise ValueError(f"part={part!r} is not supported; use 'valid' or 'test'.")
    labels = pd.Series(np.asarray(user_column(split.train, groups), dtype=object))
    if len(labels) != split.train.n_users:
        raise ValueError(f"groups has {len(labels)} labels for {split.train.n_users} users; pass one per user, "
                         "in user index order (e.g. data.users['gender']).")
    evaluator = Evaluator(split.history(part), getattr(split, part), k=k, metrics=(metric,))
    per_user, _ = evaluator.run(model)
    values = per_user[(metric, k)]
    mine = labels.iloc[evaluator.users].to_numpy()
    known = pd.notna(mine)
    rows = {}
    for group in sorted({g for g in mine[known]}, key=str):
        inside = known & (mine == group)
        a, b = values[inside], values[known & ~inside]
        lo, hi = bootstrap_ci(a, ci=ci, seed=seed)
        test = group_test(a, b, ci=ci, seed=seed) if len(b) else {"diff": np.nan, "lo": np.nan, "hi": np.nan,
                                                                  "p_value": np.nan}
        rows[group] = {"n_users": int(inside.sum()), "value": float(np.nanmean(a)), "lo": lo, "hi": hi,
                       "gap": test["diff"], "gap lo": test["lo"], "gap hi": test["hi"], "p": test["p_value"]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")
