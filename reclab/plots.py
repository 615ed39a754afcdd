"""Figures and key numbers for a first look at a ratings dataset (the MovieLens tour of notebook 00).

The **numbers** (`rating_counts`, `item_popularity`, `top_share`, `ratings_over_time`,
`sorted_density_grid`, `key_numbers`, `describe`) live in `reclab.data.statistics`, free of any
plotting import, and are re-exported here; they are printed as text in the notebooks (nbval
compares text, not images). The **figures** (``plot_*``) each take ``data`` and ``ax=None``, draw
one seaborn/matplotlib figure from those numbers, set a title and labelled axes, and return the Axes.

The long tail of item popularity and the positive skew of explicit ratings are discussed in
Harper & Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015.
"""
from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from .data import Interactions
from .data.statistics import (FREQS, _n_top, describe, item_popularity, key_numbers,  # noqa: F401 (re-exported)
                              rating_counts, ratings_over_time, sorted_density_grid, top_share)

FIGSIZE = (6, 3.5)  # small on purpose: committed notebooks carry their figures as PNG
COLOR = sns.color_palette("deep")[0]
ACCENT = sns.color_palette("deep")[3]


# ---------------------------------------------------------------------------------- figures
def _axes(ax: plt.Axes | None) -> plt.Axes:
    """The given Axes, or a new small figure's Axes in seaborn's white-grid style."""
    if ax is not None:
        return ax
    with sns.axes_style("whitegrid"):
        _, ax = plt.subplots(figsize=FIGSIZE)
    return ax


def plot_rating_distribution(data: Interactions, ax: plt.Axes | None = None) -> plt.Axes:
    """Bar chart of how many ratings each star value received."""
    counts = rating_counts(data)
    ax = _axes(ax)
    sns.barplot(x=[f"{v:g}" for v in counts.index], y=counts.to_numpy(), color=COLOR, ax=ax)
    ax.set(title=f"Rating distribution ({data.name})", xlabel="rating (stars)", ylabel="number of ratings")
    return ax


def plot_long_tail(data: Interactions, frac: float = 0.2, ax: plt.Axes | None = None) -> plt.Axes:
    """Ratings per item, items sorted most-rated first (log y); the top ``frac`` is shaded.

    Items with no rating are not drawn (a log axis has no zero), but they count in the ``frac``.
    """
    counts = item_popularity(data)
    n_top, share = _n_top(frac, len(counts)), top_share(data, frac)
    ax = _axes(ax)
    rank = np.arange(1, len(counts) + 1)
    sns.lineplot(x=rank[counts > 0], y=counts[counts > 0], color=COLOR, ax=ax)
    ax.axvspan(0.5, n_top + 0.5, color=ACCENT, alpha=0.15, label=f"top {frac:.0%} of items: {share:.0%} of ratings")
    ax.set_yscale("log")
    ax.set(
        title=f"Long tail of item popularity ({data.name})",
        xlabel="item rank (most rated first)",
        ylabel="ratings per item (log scale)",
    )
    ax.legend(loc="upper right")
    return ax


def plot_user_activity(data: Interactions, ax: plt.Axes | None = None) -> plt.Axes:
    """Histogram of ratings per user on a log x axis, with the median marked.

    Users with no rating are left out (a log axis has no zero).
    """
    counts = data.user_counts()
    counts = counts[counts > 0]
    ax = _axes(ax)
    sns.histplot(x=counts, log_scale=True, bins=30, color=COLOR, ax=ax)
    if len(counts):
        median = float(np.median(counts))
        ax.axvline(median, color=ACCENT, linestyle="--", label=f"median: {median:g} ratings")
        ax.legend(loc="upper right")
    # plain numbers at 1-2-5 steps read better than matplotlib's default 2×10^1 labels
    ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set(
        title=f"User activity ({data.name})",
        xlabel="ratings per user (log scale)",
        ylabel="number of users",
    )
    return ax


def plot_activity_over_time(data: Interactions, freq: str = "W", ax: plt.Axes | None = None) -> plt.Axes:
    """Number of ratings per day, week or month (see `ratings_over_time`)."""
    series = ratings_over_time(data, freq)
    ax = _axes(ax)
    sns.lineplot(x=series.index, y=series.to_numpy(), color=COLOR, marker="o", markersize=3, ax=ax)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set(
        title=f"Ratings per {FREQS[freq]} ({data.name})",
        xlabel=f"{FREQS[freq]} (UTC)",
        ylabel="number of ratings",
    )
    return ax


def plot_sparsity(data: Interactions, shape: tuple[int, int] = (100, 200), ax: plt.Axes | None = None) -> plt.Axes:
    """Heat map of `sorted_density_grid`: where in the sorted user × item matrix the ratings are."""
    grid = sorted_density_grid(data, shape)
    ax = _axes(ax)
    image = ax.imshow(
        grid,
        aspect="auto",
        cmap="rocket_r",
        vmin=0,
        vmax=1,
        interpolation="nearest",
        extent=(0, data.n_items, data.n_users, 0),  # axes in item / user ranks, not block numbers
    )
    ax.figure.colorbar(image, ax=ax, label="share of cells rated")
    ax.grid(False)
    ax.set(
        title=f"Sparsity: {data.density:.1%} of the matrix is rated ({data.name})",
        xlabel="items (most rated first)",
        ylabel="users (most active first)",
    )
    return ax
