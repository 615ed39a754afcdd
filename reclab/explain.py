"""Explanations of a recommendation that can be checked: exact decompositions and counterfactuals.

- `item_terms` ("because you watched X"): for the linear item-item models, EASE and ItemKNN, a
  user's score for an item *is* a sum over the history, ``score(u, i) = Σ_j x_uj · W_ji``, so the
  per-item terms are an exact, faithful explanation: they add up to the score.
- `leave_one_out`: for any model of the course, remove one item from the user's history, score
  again through the scoring contract (``score(users, history=...)``), and report how much the
  score moved. This is the counterfactual test that an attention weight, for instance, may or may
  not pass (Sarthak Jain and Byron C. Wallace, "Attention is not Explanation", NAACL 2019).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Interactions

__all__ = ["item_terms", "leave_one_out", "attention_agreement"]


def _user_item(model, user, item) -> tuple[int, int]:
    n_users, n_items = model._fitted("n_users_"), model._fitted("n_items_")
    for name, value, n in (("user", user, n_users), ("item", item, n_items)):
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < n):
            raise ValueError(f"{name}={value!r} must be an int id in [0, {n}).")
    return int(user), int(item)


def item_terms(model, user: int, item: int, *, history: Interactions | None = None) -> pd.DataFrame:
    """The exact contribution of each history item to ``model``'s score of ``item`` for ``user``.

    Parameters
    ----------
    model : a fitted `EASE`, or an `ItemKNN` with ``normalize=False`` (its score is then a plain
        weighted sum; the normalised one divides by a user-dependent total).
    user, item : 0-based ids.
    history : the history the score reads (default: the training data), as in ``model.score``.

    Returns
    -------
    A DataFrame with columns ``item`` and ``term``, one row per history item, largest term first;
    ``terms.term.sum()`` equals ``model.score([user], history=history)[0, item]``.

    Examples
    --------
    >>> item_terms(EASE().fit(train), user=0, item=49).head(3)   # doctest: +SKIP
    """
    from .models import EASE, ItemKNN

    user, item = _user_item(model, user, item)
    history = model._check_history(history)
    if isinstance(model, EASE):
        row = history.binary()[user]
        weights = model.B_[row.indices, item]  # B_ji: how much item j raises item i
    elif isinstance(model, ItemKNN):
        if model.normalize:
            raise ValueError("ItemKNN(normalize=True) divides each score by a user-dependent total, so its terms "
                             "do not add up to the score; explain an ItemKNN(normalize=False).")
        from .models.knn import feedback_matrix

        row = feedback_matrix(history, model.feedback)[user]
        weights = model.sim_[item].toarray().ravel()[row.indices]  # S_ij: item j as a neighbour of i
    else:
        raise ValueError(f"item_terms explains EASE and ItemKNN, whose scores are sums over the history; "
                         f"for {type(model).__name__} use leave_one_out.")
    terms = pd.DataFrame({"item": row.indices.astype(np.int64), "term": np.asarray(row.data * weights, np.float64)})
    return terms.sort_values(["term", "item"], ascending=[False, True], kind="stable").reset_index(drop=True)


def leave_one_out(model, user: int, item: int, *, history: Interactions | None = None) -> pd.DataFrame:
    """How much ``model``'s score of ``item`` for ``user`` drops when one history item is removed.

    Each of the user's history items is removed in turn (every row of that item for this user),
    and the user is scored again from the reduced history, through ``model.score(...,
    history=...)``: no refit, the same contract as evaluation.

    Returns
    -------
    A DataFrame with columns ``item`` (the removed one), ``score`` (the score without it) and
    ``drop`` (full score minus that score), largest drop first.
    """
    user, item = _user_item(model, user, item)
    history = model._check_history(history)
    full = float(model.score([user], history=history)[0, item])
    ratings = history.ratings
    mine = ratings["user"].to_numpy() == user
    rows = []
    for j in np.unique(ratings.loc[mine, "item"].to_numpy()):
        keep = ~(mine & (ratings["item"].to_numpy() == j))
        reduced = history.with_ratings(ratings[keep], name=f"{history.name} without item {j} of user {user}")
        score = float(model.score([user], history=reduced)[0, item])
        rows.append({"item": int(j), "score": score, "drop": full - score})
    frame = pd.DataFrame(rows, columns=["item", "score", "drop"])
    return frame.sort_values(["drop", "item"], ascending=[False, True], kind="stable").reset_index(drop=True)


def attention_agreement(model, users, *, history: Interactions | None = None) -> pd.DataFrame:
    """Is the history item a Transformer attends to most the one its recommendation depends on most?

    For each user: the model's top recommendation (seen items masked); the history item with the
    largest attention weight at the last position of the last block, heads averaged (what the
    score is read from); and the history item whose removal lowers that recommendation's score
    most (`leave_one_out`). Only the items the model reads (its last ``max_len``) are candidates
    for both. Jain and Wallace (NAACL 2019) found that attention and such counterfactuals often
    disagree; ``agree.mean()`` measures how often they do not, here.

    Parameters
    ----------
    model : a fitted sequence model with ``attention_maps`` (SASRec, TextSASRec); the
        counterfactual scores come from its ``score_sequences``, one batch per user.
    users : user ids.
    history : the history scored from (default: training data).

    Returns
    -------
    A DataFrame, one row per user: ``user``, ``recommended``, ``most_attended``,
    ``most_influential``, ``agree`` (bool), and ``attention_rank`` (1 = the most attended item
    was also the most influential; the rank of the most influential item by attention).
    """
    if not hasattr(model, "attention_maps"):
        raise ValueError(f"{type(model).__name__} has no attention_maps; use SASRec or TextSASRec.")
    history = model._check_history(history)
    users = model._check_users(users)
    recommended = np.atleast_2d(model.recommend(users, k=1, history=history)[0])[:, 0]
    maps = model.attention_maps(users, history=history)
    sequences = model._sequences(history)
    rows = []
    for user, top, (items, weights) in zip(users, recommended, maps):
        weights = weights[-1].mean(axis=0)[-1]  # (L,): the last position of the last block
        # leave_one_out through score_sequences: the user's full sequence without each item read, in
        # one batch (the contract's answer for a history without that item, as the tests check)
        sequence = sequences[user]
        candidates = np.unique(items)  # only the items the model reads (its last max_len) compete
        reduced = model.score_sequences([sequence[sequence != j] for j in candidates])[:, top]
        full = float(model.score_sequences([sequence])[0, top])
        drops = full - reduced.astype(np.float64)
        influential = int(candidates[np.argsort(-drops, kind="stable")[0]])  # ties: the smaller id
        by_attention = items[np.argsort(-weights, kind="stable")]
        rows.append({"user": int(user), "recommended": int(top), "most_attended": int(by_attention[0]),
                     "most_influential": influential, "agree": int(by_attention[0]) == influential,
                     "attention_rank": int(np.flatnonzero(by_attention == influential)[0]) + 1})
    return pd.DataFrame(rows, columns=["user", "recommended", "most_attended", "most_influential", "agree",
                                       "attention_rank"])
