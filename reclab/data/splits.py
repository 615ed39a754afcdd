"""Train / validation / test splits: leave-last-out, global temporal, random.

Every part is an `Interactions` on the same ids as the input, and every rating lands in exactly one
part. The default protocol of the course is leave-last-out by timestamp; the global temporal split
is the leakage-free alternative (Ji, Sun, Zhang & Li, "A Critical Study on Data Leakage in
Recommender System Offline Evaluation", ACM TOIS 2023): with leave-last-out, a user's test item can
be older than other users' training items, so a model sees "the future".
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .interactions import Interactions, _plain


@dataclass(frozen=True)
class Split:
    """Three `Interactions` on the same ids: ``train``, ``valid`` and ``test``."""

    train: Interactions
    valid: Interactions
    test: Interactions
    how: str = ""

    def history(self, part: str) -> Interactions:
        """What is known before ``part``: ``train`` for "valid", train then valid for "test".

        This is the history a model scores from when it is evaluated on ``part`` (`reclab.evaluate`
        passes it), and what is masked in its ranking. One fit serves both parts: scored on valid,
        a model cannot have seen the validation item, and scored on test it knows it, as every
        model does, whatever its kind. The same object is returned on every call.
        """
        if part == "valid":
            return self.train
        if part == "test":
            return self._train_valid
        raise ValueError(f"part={part!r} has no history here; use 'valid' (history = train) or 'test' "
                         "(history = train + valid).")

    @cached_property
    def _train_valid(self) -> Interactions:
        return self.train.then(self.valid, name=f"{self.train.name.rsplit('/', 1)[0]}/train+valid")

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


def _fractions(valid_frac, test_frac) -> None:
    """Both fractions real numbers (numpy scalars too) in [0, 1) with a sum below 1."""
    for name, value in (("valid_frac", valid_frac), ("test_frac", test_frac)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}={value!r} must be a number in [0, 1), e.g. 0.1 for 10% of the ratings.")
        if not 0 <= value < 1:  # also catches NaN, which compares False
            raise ValueError(f"{name}={_plain(value)!r} must be in [0, 1), e.g. 0.1 for 10% of the ratings.")
    if valid_frac + test_frac >= 1:
        raise ValueError(
            f"valid_frac + test_frac = {_plain(valid_frac + test_frac)} leaves nothing to train on; keep the sum below 1."
        )


def _not_empty(data: Interactions) -> None:
    if len(data) == 0:
        raise ValueError(f"data ({data.name!r}) has no ratings to split.")


def leave_last_out(data: Interactions) -> Split:
    """Per user: test = latest interaction, valid = second latest, train = the rest.

    Time order is by timestamp; equal timestamps (ml-100k has many: users rated in bursts, within
    one second) are broken by the order of the rows in the source file, so the split is
    deterministic. Users with few interactions:

    - 1 interaction: it stays in train (nothing to hold out without leaving the user empty);
    - 2 interactions: train 1, test 1, no validation item;
    - 3 or more: train n − 2, valid 1, test 1.

    If no user has 3 interactions the valid part is empty, and if none has 2 the test part is
    too; both are legitimate outcomes and come with a `UserWarning` that says so. Data without
    any rating is a `ValueError`.

    Examples
    --------
    >>> split = leave_last_out(load_movielens("100k"))   # doctest: +SKIP
    >>> len(split.test), len(split.valid)                 # doctest: +SKIP
    (943, 943)
    """
    _not_empty(data)
    order = data.time_order()
    users = data.ratings["user"].to_numpy()[order]
    counts = np.bincount(users, minlength=data.n_users)
    if counts.max() < 3:
        empty = "valid and test parts are" if counts.max() < 2 else "valid part is"
        warnings.warn(
            f"leave_last_out: no user of {data.name!r} has 3 or more interactions (the most is {counts.max()}), "
            f"so the {empty} empty: a user needs 2 interactions for a test item and 3 for a valid one.",
            UserWarning,
            stacklevel=2,
        )
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
    same side, so the fractions are approximate. Pass ``valid_start``/``test_start`` (Unix seconds;
    Python or numpy numbers) to cut at given times. Users and items first seen after a cut are
    cold in that part; they are kept, not dropped (the evaluator reports them).

    A split that cannot be meaningful says so, naming the parameter and the data's time range:

    - an empty train part is a `ValueError` (every timestamp equal, a cut at or before the first
      rating, fractions whose cut lands on the first timestamp);
    - an explicit ``test_start`` after the last rating (an empty test part) is a `ValueError`;
      for no test part pass ``test_frac=0`` instead;
    - an empty valid part is fine when asked for (``valid_frac=0``, or ``valid_start ==
      test_start`` both given) and a `UserWarning` otherwise (ties swallowed ``valid_frac``, or
      no rating lies in ``[valid_start, test_start)``);
    - a NaN or infinite cut is a `ValueError`, a cut that is not a number a `TypeError`.

    Examples
    --------
    >>> split = temporal_split(load_movielens("100k"), 0.1, 0.1)   # doctest: +SKIP
    """
    _fractions(valid_frac, test_frac)
    for name, value in (("valid_start", valid_start), ("test_start", test_start)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"{name}={value!r} must be a time in Unix seconds (an int or float), e.g. "
                "int(pd.Timestamp('1998-03-01', tz='UTC').timestamp())."
            )
        if not np.isfinite(value):
            raise ValueError(f"{name}={_plain(value)!r} is not a time; pass Unix seconds, or None to cut by fraction.")
    _not_empty(data)
    ts = np.sort(data.ratings["timestamp"].to_numpy())
    first, last = int(ts[0]), int(ts[-1])
    span = f"the ratings run from {first} to {last}"
    given_test, given_valid = test_start is not None, valid_start is not None
    if test_start is None:
        test_start = int(ts[min(len(ts) - 1, int(np.floor(len(ts) * (1 - test_frac))))]) if test_frac else last + 1
    if valid_start is None:
        valid_start = (
            int(ts[min(len(ts) - 1, int(np.floor(len(ts) * (1 - test_frac - valid_frac))))]) if valid_frac else test_start
        )
    valid_start, test_start = _plain(valid_start), _plain(test_start)
    if valid_start > test_start:
        if given_valid:
            raise ValueError(f"valid_start={valid_start} is after test_start={test_start}; validation must come first.")
        raise ValueError(
            f"valid_start={valid_start} (chosen from valid_frac={_plain(valid_frac)}, test_frac={_plain(test_frac)}) "
            f"is after test_start={test_start}; pass valid_start too (before test_start), or valid_frac=0."
        )
    if valid_start <= first:
        if first == last:
            raise ValueError(
                f"all {len(ts):,} ratings share one timestamp ({first}); a temporal split would leave train "
                "empty. Use leave_last_out or random_split, or pass valid_frac=test_frac=0."
            )
        cut = "valid_start" if given_valid or valid_start < test_start else "test_start"
        how = "given" if (given_valid if cut == "valid_start" else given_test) else (
            f"chosen from valid_frac={_plain(valid_frac)}, test_frac={_plain(test_frac)}")
        raise ValueError(
            f"{cut}={valid_start} ({how}) is at or before the first rating ({first}); the train part "
            f"would be empty. {span}; choose a time between {first + 1} and {last}"
            + ("" if given_valid or given_test else ", or lower the fractions") + "."
        )
    if given_test and test_start > last:
        raise ValueError(
            f"test_start={test_start} is after the last rating ({last}); the test part would be empty. "
            f"{span.capitalize()}; choose a time between {first + 1} and {last}, or pass test_frac=0 "
            "without test_start for no test part."
        )
    t = data.ratings["timestamp"].to_numpy()
    label = np.where(t >= test_start, 2, np.where(t >= valid_start, 1, 0)).astype(np.int8)
    # asking for no valid part: valid_frac=0, or equal explicit cuts; anything else expects ratings
    wanted_valid = (valid_start < test_start if given_test else True) if given_valid else valid_frac > 0
    if wanted_valid and not (label == 1).any():
        asked = f"valid_start={valid_start}" if given_valid else f"valid_frac={_plain(valid_frac)}"
        warnings.warn(
            f"temporal_split: {asked} gives an empty valid part: no rating lies in "
            f"[{valid_start}, {test_start}) ({span}; ratings sharing a timestamp stay together). "
            "Choose an earlier valid_start or a larger valid_frac, or pass valid_frac=0 to ask for none.",
            UserWarning,
            stacklevel=2,
        )
    return _parts(data, label, f"temporal (valid from {valid_start}, test from {test_start})")


def random_split(data: Interactions, valid_frac: float = 0.1, test_frac: float = 0.1, *, seed: int = 0) -> Split:
    """Each rating goes to valid/test at random with the given fractions (exact counts, seeded).

    This is the split many tutorials use; it leaks the future into training and is shown in the
    course as what *not* to do for sequential recommenders.

    Part sizes are ``round(n * frac)``. Fractions and ``seed`` may be numpy scalars. A part that
    rounds to empty although its fraction is positive comes with a `UserWarning`; an empty train
    part (tiny data) is a `ValueError`.
    """
    _fractions(valid_frac, test_frac)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed={seed!r} must be an integer (Python or numpy), e.g. seed=0.")
    if seed < 0:
        raise ValueError(f"seed={_plain(seed)} must be >= 0, e.g. seed=0.")
    _not_empty(data)
    n = len(data)
    n_test, n_valid = int(round(n * test_frac)), int(round(n * valid_frac))
    if n_test + n_valid >= n:
        raise ValueError(
            f"valid_frac={_plain(valid_frac)} and test_frac={_plain(test_frac)} of {n} rating(s) give "
            f"{n_valid} valid + {n_test} test, leaving train empty; lower the fractions or use more data."
        )
    for name, frac, size in (("valid_frac", valid_frac, n_valid), ("test_frac", test_frac, n_test)):
        if frac > 0 and size == 0:
            warnings.warn(
                f"random_split: {name}={_plain(frac)} of {n} rating(s) rounds to 0; the {name[:-5]} part is empty.",
                UserWarning,
                stacklevel=2,
            )
    perm = np.random.default_rng(seed).permutation(n)
    label = np.zeros(n, np.int8)
    label[perm[:n_test]] = 2
    label[perm[n_test: n_test + n_valid]] = 1
    return _parts(data, label, f"random (seed {_plain(seed)})")


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
