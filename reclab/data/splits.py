"""Train / validation / test splits: leave-last-out, global temporal, random.

Every part is an `Interactions` on the same ids as the input, and every rating lands in exactly one
part. The default protocol of the course is leave-last-out by timestamp; the global temporal split
is the leakage-free alternative (Ji, Sun, Zhang & Li, "A Critical Study on Data Leakage in
Recommender System Offline Evaluation", ACM TOIS 2023): with leave-last-out, a user's test item can
be older than other users' training items, so a model sees "the future".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .interactions import Interactions


@dataclass(frozen=True)
class Split:
    """Three `Interactions` on the same ids: ``train``, ``valid`` and ``test``."""

    train: Interactions
    valid: Interactions
    test: Interactions
    how: str = ""

    def summary(self) -> pd.DataFrame:
        """Ratings, users and items per part, as a small table."""
        rows = []
        for part in ("train", "valid", "test"):
            r = getattr(self, part).ratings
            rows.append(
                {"part": part, "ratings": len(r), "users": r["user"].nunique(), "items": r["item"].nunique()}
            )
        return pd.DataFrame(rows).set_index("part")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{p}={len(getattr(self, p)):,}" for p in ("train", "valid", "test"))
        return f"Split({self.how}: {sizes})"


def _parts(data: Interactions, label: np.ndarray, how: str) -> Split:
    """Cut ``data`` by a per-row label 0/1/2 (train/valid/test); rows keep their file order."""
    parts = [data.with_ratings(data.ratings[label == i], name=f"{data.name}/{p}") for i, p in enumerate(("train", "valid", "test"))]
    return Split(*parts, how=how)


def leave_last_out(data: Interactions) -> Split:
    """Per user: test = latest interaction, valid = second latest, train = the rest.

    Time order is by timestamp; equal timestamps (ml-100k has many: users rated in bursts, within
    one second) are broken by the order of the rows in the source file, so the split is
    deterministic. Users with few interactions:

    - 1 interaction: it stays in train (nothing to hold out without leaving the user empty);
    - 2 interactions: train 1, test 1, no validation item;
    - 3 or more: train n − 2, valid 1, test 1.

    Examples
    --------
    >>> split = leave_last_out(load_movielens("100k"))   # doctest: +SKIP
    >>> len(split.test), len(split.valid)                 # doctest: +SKIP
    (943, 943)
    """
    order = data.time_order()
    users = data.ratings["user"].to_numpy()[order]
    counts = np.bincount(users, minlength=data.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    from_end = counts[users] - 1 - (np.arange(len(order)) - starts[users])
    label_sorted = np.zeros(len(order), np.int8)
    label_sorted[(from_end == 0) & (counts[users] >= 2)] = 2
    label_sorted[(from_end == 1) & (counts[users] >= 3)] = 1
    label = np.empty_like(label_sorted)
    label[order] = label_sorted
    return _parts(data, label, "leave-last-out")


def temporal_split(
    data: Interactions,
    valid_frac: float = 0.1,
    test_frac: float = 0.1,
    *,
    valid_start: int | None = None,
    test_start: int | None = None,
) -> Split:
    """One global cut in time: train < ``valid_start`` ≤ valid < ``test_start`` ≤ test.

    By default the cut times are chosen so that about the last ``test_frac`` of all ratings are
    test and the ``valid_frac`` before them validation; all ratings sharing a timestamp land on the
    same side, so the fractions are approximate. Pass ``valid_start``/``test_start`` (Unix seconds)
    to cut at given times. Users and items first seen after a cut are cold in that part; they are
    kept, not dropped (the evaluator reports them).
    """
    for name, value in (("valid_frac", valid_frac), ("test_frac", test_frac)):
        if not 0 <= value < 1:
            raise ValueError(f"{name}={value!r} must be in [0, 1), e.g. 0.1 for the last 10% of ratings.")
    if valid_frac + test_frac >= 1:
        raise ValueError(
            f"valid_frac + test_frac = {valid_frac + test_frac} leaves nothing to train on; keep the sum below 1."
        )
    ts = np.sort(data.ratings["timestamp"].to_numpy())
    if len(ts) == 0:
        raise ValueError("data has no ratings to split.")
    if test_start is None:
        test_start = int(ts[min(len(ts) - 1, int(np.floor(len(ts) * (1 - test_frac))))]) if test_frac else int(ts[-1]) + 1
    if valid_start is None:
        valid_start = (
            int(ts[min(len(ts) - 1, int(np.floor(len(ts) * (1 - test_frac - valid_frac))))]) if valid_frac else test_start
        )
    if valid_start > test_start:
        raise ValueError(f"valid_start={valid_start} is after test_start={test_start}; validation must come first.")
    t = data.ratings["timestamp"].to_numpy()
    label = np.where(t >= test_start, 2, np.where(t >= valid_start, 1, 0)).astype(np.int8)
    return _parts(data, label, f"temporal (valid from {valid_start}, test from {test_start})")


def random_split(data: Interactions, valid_frac: float = 0.1, test_frac: float = 0.1, *, seed: int = 0) -> Split:
    """Each rating goes to valid/test at random with the given fractions (exact counts, seeded).

    This is the split many tutorials use; it leaks the future into training and is shown in the
    course as what *not* to do for sequential recommenders.
    """
    for name, value in (("valid_frac", valid_frac), ("test_frac", test_frac)):
        if not 0 <= value < 1:
            raise ValueError(f"{name}={value!r} must be in [0, 1), e.g. 0.1.")
    if valid_frac + test_frac >= 1:
        raise ValueError(f"valid_frac + test_frac = {valid_frac + test_frac} must stay below 1.")
    n = len(data)
    n_test, n_valid = int(round(n * test_frac)), int(round(n * valid_frac))
    perm = np.random.default_rng(seed).permutation(n)
    label = np.zeros(n, np.int8)
    label[perm[:n_test]] = 2
    label[perm[n_test: n_test + n_valid]] = 1
    return _parts(data, label, f"random (seed {seed})")


def future_share(split: Split) -> np.ndarray:
    """For each test rating, the share of training ratings that happened *after* it.

    A non-zero share is leakage: the model was trained on the future of the moment it is asked to
    predict (Ji et al., TOIS 2023). A global temporal split gives zeros by construction;
    leave-last-out usually does not, because users' "last" ratings lie at different times.

    Returns a float array with one value per row of ``split.test.ratings``.
    """
    train_ts = np.sort(split.train.ratings["timestamp"].to_numpy())
    test_ts = split.test.ratings["timestamp"].to_numpy()
    later = len(train_ts) - np.searchsorted(train_ts, test_ts, side="right")
    return later / max(1, len(train_ts))
