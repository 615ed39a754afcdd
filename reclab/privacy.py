"""Privacy: what ratings reveal about a user, one defence, and forgetting a user.

- `attribute_inference`: how well a user's private attribute (gender on ml-100k) can be predicted
  from *which* movies they rated, by a logistic regression, cross-validated, against always
  guessing the majority (Udi Weinsberg, Smriti Bhagat, Stratis Ioannidis and Nina Taft, "BlurMe:
  Inferring and Obfuscating User Gender Based on Ratings", RecSys 2012).
- `blurme`: their obfuscation defence. Each user gets extra ratings of movies that are typical of
  the *other* group (the most indicative items by the attack's own coefficients, greedily), so
  that the attack is fooled while the recommendations change little; the extra ratings carry the
  user's mean rating.
- `forget`: exact unlearning for the models of this course, which are all fitted from the data
  alone: drop every row of a user and refit. What the user contributed is then gone, by
  construction; `reclab.explain.item_terms` shows it for EASE.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Interactions

__all__ = ["attribute_inference", "blurme", "forget"]


def _labels(train: Interactions, labels) -> np.ndarray:
    from .fairness import user_column

    y = np.asarray(pd.Series(np.asarray(user_column(train, labels), dtype=object)).astype(str))
    if len(y) != train.n_users:
        raise ValueError(f"labels has {len(y)} entries for {train.n_users} users; pass one per user, in user index "
                         "order (e.g. data.users['gender']).")
    if len(set(y)) != 2:
        raise ValueError(f"labels has {len(set(y))} distinct values {sorted(set(y))[:5]}; the attack and BlurMe "
                         "need exactly two groups.")
    return y


def attribute_inference(train: Interactions, labels, *, attacked: Interactions | None = None, folds: int = 5,
                        C: float = 1.0, seed: int = 0) -> dict:
    """Cross-validated accuracy of predicting ``labels`` from which items each user rated.

    In each stratified fold, a logistic regression learns from the binary rows of ``train`` of the
    other folds' users and predicts the fold's users from their rows of ``attacked`` (default:
    ``train`` itself). With ``attacked=blurme(train, labels)`` this is the setting of Weinsberg et
    al.: an attacker trained on honest profiles meets obfuscated ones. With ``train`` *and*
    ``attacked`` both obfuscated, the attacker adapts to the defence.

    Parameters
    ----------
    train : the ratings the attacker learns from.
    labels : (n_users,) the private attribute, two values (e.g. ``data.users["gender"]``), or the
        name of a column of ``train.users`` (``"gender"``).
    attacked : the ratings of the users under attack (same users and items as ``train``).
    folds : stratified cross-validation folds.
    C : the inverse L2 strength of the logistic regression.

    Returns
    -------
    ``{"accuracy": mean over folds, "fold accuracies": list, "majority": share of the larger
    group}``: the attack works only as far as ``accuracy`` exceeds ``majority``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    y = _labels(train, labels)
    X = train.binary()
    target = X if attacked is None else attacked.binary()
    if target.shape != X.shape:
        raise ValueError(f"attacked has shape {target.shape}, train {X.shape}; pass the same users and items.")
    scores = []
    for learn, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        attack = LogisticRegression(C=C, max_iter=2000).fit(X[learn], y[learn])
        scores.append(float((attack.predict(target[test]) == y[test]).mean()))
    _, sizes = np.unique(y, return_counts=True)
    return {"accuracy": float(np.mean(scores)), "fold accuracies": scores, "majority": float(sizes.max() / sizes.sum())}


def indicative_items(train: Interactions, labels, *, C: float = 1.0) -> dict[str, np.ndarray]:
    """For each of the two groups, the items ordered from most to least typical of it.

    The order is that of a logistic regression's coefficients fitted on all users (the attack of
    `attribute_inference`): the largest coefficients point to the second group, the smallest to
    the first.
    """
    from sklearn.linear_model import LogisticRegression

    y = _labels(train, labels)
    attack = LogisticRegression(C=C, max_iter=2000).fit(train.binary(), y)
    w = attack.coef_[0]
    first, second = attack.classes_
    return {first: np.argsort(w, kind="stable"), second: np.argsort(-w, kind="stable")}


def blurme(train: Interactions, labels, *, share: float = 0.1, C: float = 1.0) -> Interactions:
    """Add to each user ``ceil(share · their ratings)`` movies typical of the other group (BlurMe, greedy).

    The added rows carry the user's mean rating and the user's latest timestamp, so that
    time-ordered models see them as part of the past history, not as the newest items.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share={share!r} must be in (0, 1]: the extra ratings per user, as a share of theirs.")
    y = _labels(train, labels)
    typical = indicative_items(train, labels, C=C)
    other = {g: [h for h in typical if h != g][0] for g in typical}
    seen = train.binary()
    r = train.ratings
    means = r.groupby("user")["rating"].mean()
    last = r.groupby("user")["timestamp"].max()
    rows = []
    for user in np.unique(r["user"].to_numpy()):
        n = int(np.ceil(share * seen[user].nnz))
        mine = set(seen[user].indices)
        picks = [i for i in typical[other[y[user]]] if i not in mine][:n]
        rows.append(pd.DataFrame({"user": user, "item": picks, "rating": means[user], "timestamp": last[user]}))
    added = pd.concat(rows, ignore_index=True).astype({c: r[c].dtype for c in ("user", "item", "rating", "timestamp")})
    return train.with_ratings(pd.concat([r[["user", "item", "rating", "timestamp"]], added], ignore_index=True),
                              name=f"{train.name} (BlurMe, share {share:g})")


def forget(train: Interactions, users) -> Interactions:
    """``train`` without any row of ``users``: refit a model on it to unlearn them exactly."""
    users = np.atleast_1d(np.asarray(users))
    unknown = users[(users < 0) | (users >= train.n_users)]
    if len(unknown):
        raise ValueError(f"users {unknown.tolist()} are not user ids of train (0 to {train.n_users - 1}).")
    r = train.ratings
    return train.with_ratings(r[~r["user"].isin(users)], name=f"{train.name} without {len(users)} user(s)")
