"""Key numbers of a ratings dataset: the MovieLens tour of notebook 00, as plain functions.

`rating_counts`, `item_popularity`, `top_share`, `ratings_over_time`, `sorted_density_grid`,
`timing_facts`, `key_numbers` and `describe` are functions of an `Interactions`, tested against brute-force
computations and printed as text in the notebooks. They import no plotting library, so exercise
checkers and services can use them; `reclab.plots` draws figures from them.

The long tail of item popularity and the positive skew of explicit ratings are discussed in
Harper & Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .interactions import Interactions

FREQS = {"D": "day", "W": "week", "M": "month"}


def rating_counts(data: Interactions) -> pd.Series:
    """Number of ratings per rating value, sorted by value.

    Returns
    -------
    Series, indexed by the distinct rating values (float), of int counts.

    Examples
    --------
    >>> from reclab.data import make_synthetic
    >>> rating_counts(make_synthetic(n_users=20, seed=0)).index.tolist()
    [1.0, 2.0, 5.0]
    """
    counts = data.ratings["rating"].value_counts().sort_index()
    counts.index.name, counts.name = "rating", "ratings"
    return counts.astype(np.int64)


def item_popularity(data: Interactions) -> np.ndarray:
    """Ratings per item, most rated first: shape (n_items,), unrated catalogue items at the end."""
    return np.sort(data.item_counts())[::-1]


def _n_top(frac: float, n: int) -> int:
    """How many of ``n`` entities make up the top ``frac``: ``floor(frac * n)``, at least 1."""
    if not 0 < frac <= 1:
        raise ValueError(f"frac={frac!r} must be in (0, 1], e.g. 0.2 for the top 20%.")
    # the epsilon keeps 0.29 * 100 = 28.999999999999996 from rounding down to 28
    return max(1, int(np.floor(frac * n + 1e-9)))


def top_share(data: Interactions, frac: float = 0.2, *, by: str = "item") -> float:
    """Share of all ratings that fall on the ``frac`` most-rated items (or most active users).

    The top group has ``floor(frac * n)`` members (at least one), where ``n`` is ``n_items`` (or
    ``n_users``) including catalogue entries with no rating. Ties at the border do not matter: the
    share sums counts, whichever of the tied entities is taken.

    Parameters
    ----------
    frac : size of the top group as a fraction of all items (users), in (0, 1].
    by : "item" (how concentrated popularity is) or "user" (how concentrated activity is).

    Returns
    -------
    float in [0, 1]; NaN when ``data`` has no ratings.

    Examples
    --------
    >>> from reclab.data import make_synthetic
    >>> round(top_share(make_synthetic(seed=0), 1.0), 6)
    1.0
    """
    if by not in ("item", "user"):
        raise ValueError(f"by={by!r} is not supported; use 'item' or 'user'.")
    counts = data.item_counts() if by == "item" else data.user_counts()
    n_top = _n_top(frac, len(counts))
    total = counts.sum()
    if total == 0:
        return float("nan")
    return float(np.sort(counts)[::-1][:n_top].sum() / total)


def ratings_over_time(data: Interactions, freq: str = "W") -> pd.Series:
    """Number of ratings per day, week (Monday to Sunday) or calendar month, in UTC.

    Periods without a rating between the first and the last one are kept, with count 0, so a
    plot shows the gaps.

    Parameters
    ----------
    freq : "D", "W" or "M".

    Returns
    -------
    Series indexed by the start of each period (DatetimeIndex), of int counts; empty when ``data``
    has no ratings.
    """
    if freq not in FREQS:
        raise ValueError(f"freq={freq!r} is not supported; use one of {', '.join(map(repr, FREQS))}.")
    when = pd.to_datetime(data.ratings["timestamp"], unit="s")
    if len(when) == 0:
        return pd.Series([], index=pd.DatetimeIndex([]), dtype=np.int64, name="ratings")
    periods = when.dt.to_period(freq)
    full = pd.period_range(periods.min(), periods.max(), freq=freq)
    counts = periods.value_counts().reindex(full, fill_value=0).astype(np.int64)
    counts.index = pd.DatetimeIndex(full.to_timestamp(), freq=None)  # no "Freq: MS" line in prints
    counts.index.name, counts.name = FREQS[freq], "ratings"
    return counts


def _sort_orders(binary) -> tuple[np.ndarray, np.ndarray]:
    """Users by activity and items by popularity, most first; ties keep index order."""
    user_order = np.argsort(-np.asarray(binary.sum(axis=1)).ravel(), kind="stable")
    item_order = np.argsort(-np.asarray(binary.sum(axis=0)).ravel(), kind="stable")
    return user_order, item_order


def sorted_density_grid(data: Interactions, shape: tuple[int, int] = (100, 200)) -> np.ndarray:
    """Density of blocks of the user × item matrix, users and items sorted most-active first.

    Rows are users sorted by their number of distinct rated items, columns items sorted by their
    number of distinct raters (ties keep index order). The sorted matrix is cut into
    ``shape`` near-equal blocks (fewer if there are fewer users or items) and each entry is the
    share of that block's cells that hold a rating. The full matrix is never materialised, so this
    works for ml-20m too.

    Returns
    -------
    array, shape (min(shape[0], n_users), min(shape[1], n_items)), values in [0, 1].
    """
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape={shape!r} must be two positive block counts, e.g. (100, 200).")
    binary = data.to_csr("binary").tocoo()
    user_order, item_order = _sort_orders(binary.tocsr())
    user_rank = np.empty(data.n_users, np.int64)
    user_rank[user_order] = np.arange(data.n_users)
    item_rank = np.empty(data.n_items, np.int64)
    item_rank[item_order] = np.arange(data.n_items)
    rows = np.linspace(0, data.n_users, min(shape[0], data.n_users) + 1).round().astype(np.int64)
    cols = np.linspace(0, data.n_items, min(shape[1], data.n_items) + 1).round().astype(np.int64)
    r = np.searchsorted(rows, user_rank[binary.row], side="right") - 1
    c = np.searchsorted(cols, item_rank[binary.col], side="right") - 1
    n_r, n_c = len(rows) - 1, len(cols) - 1
    hits = np.bincount(r * n_c + c, minlength=n_r * n_c).reshape(n_r, n_c)
    return hits / np.outer(np.diff(rows), np.diff(cols))


def timing_facts(data: Interactions) -> dict[str, float]:
    """How each user's last two ratings lie in time: what leave-last-out's validation and test items are.

    Over the users with at least two ratings, in the canonical chronology (`Interactions.time_order`,
    equal timestamps in file order, as `leave_last_out` uses):

    - ``users``: how many there are;
    - ``same_second``: the share whose last two ratings carry the same timestamp (so which of the two
      is "next" is decided by file order, not by time);
    - ``median_gap_s``: the median seconds from the second-to-last rating to the last;
    - ``within_day``: the share whose every rating lies within 24 hours of their first.
    """
    r = data.ratings.iloc[data.time_order()]
    by_user = r.groupby("user", sort=True)["timestamp"]
    size, first, last = by_user.size(), by_user.min(), by_user.max()
    keep = size[size >= 2].index
    tail = r[r["user"].isin(keep)].groupby("user", sort=True).tail(2).groupby("user", sort=True)["timestamp"]
    gap = (tail.last() - tail.first()).to_numpy()
    return {
        "users": int(len(keep)),
        "same_second": float((gap == 0).mean()) if len(keep) else float("nan"),
        "median_gap_s": float(np.median(gap)) if len(keep) else float("nan"),
        "within_day": float(((last - first)[keep] < 86_400).mean()) if len(keep) else float("nan"),
    }


def key_numbers(data: Interactions, frac: float = 0.2) -> dict[str, object]:
    """The numbers of a first look at a dataset, unformatted (see `describe` for the text table).

    Keys: ``ratings, users, items, density, mean_rating, median_ratings_per_user, top_share,
    first_rating, last_rating`` (the last two are UTC dates as "YYYY-MM-DD"). The median counts
    every user of the dataset, one with no rating as 0; ``top_share`` is `top_share` (items).
    """
    r = data.ratings
    dates = pd.to_datetime(r["timestamp"], unit="s")
    return {
        "ratings": len(r),
        "users": data.n_users,
        "items": data.n_items,
        "density": data.density,
        "mean_rating": float(r["rating"].mean()) if len(r) else float("nan"),
        "median_ratings_per_user": float(np.median(data.user_counts())) if data.n_users else float("nan"),
        "top_share": top_share(data, frac),
        "first_rating": dates.min().strftime("%Y-%m-%d") if len(r) else "",
        "last_rating": dates.max().strftime("%Y-%m-%d") if len(r) else "",
    }


def describe(data: Interactions, frac: float = 0.2) -> pd.DataFrame:
    """`key_numbers` as a two-column text table, for ``print(describe(data).to_string())``.

    Numbers are rounded for print (density 4 significant digits, shares and means 4 decimals), so
    a re-run prints the same text.

    Examples
    --------
    >>> from reclab.data import make_synthetic
    >>> describe(make_synthetic(seed=0)).loc["users", "value"]
    '300'
    """
    k = key_numbers(data, frac)
    rows = [
        ("ratings", f"{k['ratings']:,}"),
        ("users", f"{k['users']:,}"),
        ("items", f"{k['items']:,}"),
        ("density", f"{k['density']:.4%}"),
        ("mean rating", f"{k['mean_rating']:.4f}"),
        ("median ratings per user", f"{k['median_ratings_per_user']:g}"),
        (f"share of ratings on the top {frac:.0%} items", f"{k['top_share']:.2%}"),
        ("date range (UTC)", f"{k['first_rating']} to {k['last_rating']}"),
    ]
    quantity, value = zip(*rows)
    return pd.DataFrame({"value": value}, index=pd.Index(quantity))
