"""Intervals and paired tests over users: how sure a leaderboard number is.

A leaderboard on ml-100k averages 943 users with one test item each, so a hit rate of 0.14 has a
standard error of about 0.011: many gaps between models are inside the noise. Two tools say so:

- `bootstrap_ci`: the percentile bootstrap (Efron & Tibshirani, *An Introduction to the
  Bootstrap*, 1993) over users for a mean of per-user values (HR, NDCG, MRR, ...);
- `group_test`: one model on two *different* groups of users (women and men, say): the
  difference of the group means, a bootstrap interval that resamples each group, and a
  permutation p-value that shuffles the group labels;
- `paired_test`: two models scored on the *same* users. The per-user differences carry the
  comparison; their mean gets a paired bootstrap interval and a sign-flip permutation p-value
  (Fisher's randomisation test, as recommended for IR evaluation by Smucker, Allan & Carterette,
  CIKM 2007): under "no difference", each user's two scores are exchangeable.

Both are seeded, so the same inputs give the same numbers.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_ci", "paired_test", "group_test"]

_CHUNK = 2_000_000  # resampled entries drawn at once (memory: 8 bytes each)


def _check(ci: float, n: int, what: str) -> None:
    if not (isinstance(ci, (float, int, np.floating, np.integer)) and 0 < ci < 1):
        raise ValueError(f"ci={ci!r} must be a confidence level in (0, 1), e.g. 0.95.")
    if not (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1):
        raise ValueError(f"{what}={n!r} must be a positive int, e.g. 1000.")


def _finite(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per user), got shape {arr.shape}.")
    return arr[np.isfinite(arr)]


def _replicates(n: int, n_boot: int, rng: np.random.Generator):
    """Yield index arrays (chunk, n) of users drawn with replacement, ``n_boot`` rows in all."""
    step = max(1, _CHUNK // max(n, 1))
    for start in range(0, n_boot, step):
        yield rng.integers(0, n, size=(min(step, n_boot - start), n))


def bootstrap_ci(
    values,
    *,
    ci: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval for the mean of per-user ``values`` (NaNs are left out).

    Parameters
    ----------
    values : (n_users,) array of per-user metric values.
    ci : confidence level.
    n_boot : bootstrap replicates.
    seed : seeds the resampling.

    Returns
    -------
    (lo, hi) : floats; (nan, nan) when there is no finite value.

    Examples
    --------
    >>> lo, hi = bootstrap_ci(np.r_[np.ones(30), np.zeros(70)])   # HR of 0.30 on 100 users
    >>> round(lo, 2), round(hi, 2)                                # doctest: +SKIP
    (0.21, 0.39)
    """
    _check(ci, n_boot, "n_boot")
    rng = np.random.default_rng([int(seed), 0xB007])
    v = _finite(values, "values")
    if len(v) == 0:
        return float("nan"), float("nan")
    stats = np.concatenate([v[idx].mean(axis=1) for idx in _replicates(len(v), n_boot, rng)])
    tail = (1 - ci) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_test(
    a,
    b,
    *,
    ci: float = 0.95,
    n_boot: int = 1000,
    n_perm: int = 10_000,
    seed: int = 0,
) -> dict[str, float]:
    """Compare two models on the same users: mean difference ``a - b``, its interval and a p-value.

    Parameters
    ----------
    a, b : (n_users,) per-user values of the two models, aligned user by user; users where either
        is NaN are left out.
    ci, n_boot : the paired bootstrap interval of the mean difference.
    n_perm : random sign flips for the two-sided permutation p-value.
    seed : seeds both.

    Returns
    -------
    dict with ``diff`` (mean of a - b), ``lo``, ``hi`` (interval of the diff), ``p_value`` (two-sided,
    ``(1 + #{|flipped mean| >= |observed mean|}) / (1 + n_perm)``, so never 0) and ``n_users``.

    Examples
    --------
    >>> paired_test([1, 1, 0, 1], [0, 1, 0, 0])["diff"]
    0.5
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D and aligned user by user; got shapes {a.shape} and {b.shape}.")
    _check(ci, n_perm, "n_perm")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = len(d)
    if n == 0:
        nan = float("nan")
        return {"diff": nan, "lo": nan, "hi": nan, "p_value": nan, "n_users": 0}
    lo, hi = bootstrap_ci(d, ci=ci, n_boot=n_boot, seed=seed)
    observed = abs(d.mean())
    rng = np.random.default_rng([int(seed), 0x5161])
    extreme = 0
    step = max(1, _CHUNK // n)
    for start in range(0, n_perm, step):
        signs = rng.integers(0, 2, size=(min(step, n_perm - start), n)) * 2 - 1
        # a tolerance so that a flip giving the same mean up to rounding counts as "as extreme"
        extreme += int((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).sum())
    return {"diff": float(d.mean()), "lo": lo, "hi": hi, "p_value": (1 + extreme) / (1 + n_perm), "n_users": n}


def group_test(a, b, *, ci: float = 0.95, n_boot: int = 1000, n_perm: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Compare one metric between two groups of users: ``mean(a) - mean(b)``, its interval, a p-value.

    Parameters
    ----------
    a, b : per-user values of the two groups (any lengths; NaN left out).
    ci, n_boot : the bootstrap interval of the difference, each group resampled on its own.
    n_perm : random relabellings of the pooled users for the two-sided permutation p-value.
    seed : seeds both.

    Returns
    -------
    dict with ``diff``, ``lo``, ``hi``, ``p_value`` (``(1 + #{|relabelled diff| >= |observed|}) /
    (1 + n_perm)``), ``n_a`` and ``n_b``.

    Examples
    --------
    >>> group_test([1, 1, 1, 0], [0, 0])["diff"]
    0.75
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"a and b must be 1-D arrays of per-user values; got shapes {a.shape} and {b.shape}.")
    _check(ci, n_boot, "n_boot")
    _check(ci, n_perm, "n_perm")
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"each group needs at least one user with a value; got {len(a)} and {len(b)}.")
    rng = np.random.default_rng([int(seed), 0x6A7])
    boots = np.array([rng.choice(a, len(a)).mean() - rng.choice(b, len(b)).mean() for _ in range(n_boot)])
    tail = (1 - ci) / 2
    observed = a.mean() - b.mean()
    pooled, extreme = np.concatenate([a, b]), 0
    for _ in range(n_perm):
        shuffled = rng.permutation(pooled)
        extreme += abs(shuffled[:len(a)].mean() - shuffled[len(a):].mean()) >= abs(observed) - 1e-12
    return {"diff": float(observed), "lo": float(np.quantile(boots, tail)), "hi": float(np.quantile(boots, 1 - tail)),
            "p_value": (1 + int(extreme)) / (1 + n_perm), "n_a": len(a), "n_b": len(b)}
