"""reclab.plots: every number against a brute-force computation; every figure has a title and labels."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from fractions import Fraction

import matplotlib

matplotlib.use("Agg")  # no display in CI; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from reclab import plots
from reclab.data import Interactions, make_synthetic

DAY = 86_400
T0 = 883_612_800  # 1998-01-01 00:00:00 UTC, a Thursday


def make_tiny() -> Interactions:
    """5 users (one never rates), 6 items (one never rated), a repeated pair, two months."""
    ratings = pd.DataFrame(
        {
            "user_id": [10, 10, 10, 20, 20, 30, 30, 30, 30, 40, 10],
            "item_id": [1, 2, 3, 1, 2, 1, 4, 5, 2, 1, 1],
            "rating": [5, 4, 3, 5, 1, 4, 4, 2, 5, 3, 4],
            "timestamp": [T0, T0 + DAY, T0 + 40 * DAY, T0 + 5 * DAY, T0 + 5 * DAY, T0 + 2 * DAY,
                          T0 + 12 * DAY, T0 + 33 * DAY, T0 + 34 * DAY, T0 + 3 * DAY, T0 + 41 * DAY],
        }
    )
    items = pd.DataFrame({"item_id": [1, 2, 3, 4, 5, 6], "title": list("ABCDEF")})
    users = pd.DataFrame({"user_id": [10, 20, 30, 40, 50]})
    return Interactions.from_frames(ratings, items, users, name="tiny")


DATASETS = {
    "tiny": make_tiny,
    **{
        f"synthetic-{seed}": (lambda seed=seed: make_synthetic(n_users=300, n_items=120, seed=seed))
        for seed in range(3)
    },
}


@pytest.fixture(scope="module")
def tiny() -> Interactions:
    return make_tiny()


@pytest.fixture(scope="module")
def synthetic() -> Interactions:
    return make_synthetic(n_users=300, n_items=120, seed=0)


@pytest.fixture(scope="module", params=list(DATASETS))
def data(request) -> Interactions:
    return DATASETS[request.param]()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------------- brute force
def brute_counts(data: Interactions, column: str, n: int) -> list[int]:
    counter = Counter(data.ratings[column].tolist())
    return [counter.get(i, 0) for i in range(n)]


def brute_top_share(data: Interactions, frac: float, by: str) -> float:
    counts = brute_counts(data, by, data.n_items if by == "item" else data.n_users)
    k = max(1, int(Fraction(str(frac)) * len(counts)))  # exact floor, no float rounding
    return sum(sorted(counts, reverse=True)[:k]) / sum(counts)


def brute_dense(data: Interactions) -> np.ndarray:
    dense = np.zeros((data.n_users, data.n_items))
    for u, i in zip(data.ratings["user"], data.ratings["item"]):
        dense[u, i] = 1
    return dense


def brute_sorted_dense(data: Interactions) -> np.ndarray:
    dense = brute_dense(data)
    rows = sorted(range(data.n_users), key=lambda u: (-dense[u].sum(), u))
    cols = sorted(range(data.n_items), key=lambda i: (-dense[:, i].sum(), i))
    return dense[np.ix_(rows, cols)]


# ---------------------------------------------------------------------------------- numbers
def test_tiny_fixture_is_what_the_tests_assume(tiny):
    assert (tiny.n_users, tiny.n_items, len(tiny)) == (5, 6, 11)


def test_rating_counts_match_a_counter(data):
    counts = plots.rating_counts(data)
    assert counts.to_dict() == dict(Counter(data.ratings["rating"].tolist()))
    assert list(counts.index) == sorted(counts.index)


def test_item_popularity_is_sorted_counts_including_unrated(data):
    expected = sorted(brute_counts(data, "item", data.n_items), reverse=True)
    assert plots.item_popularity(data).tolist() == expected


def test_item_popularity_on_tiny(tiny):
    assert plots.item_popularity(tiny).tolist() == [5, 3, 1, 1, 1, 0]


@pytest.mark.parametrize("frac", [0.01, 0.2, 0.29, 0.5, 1.0])
@pytest.mark.parametrize("by", ["item", "user"])
def test_top_share_matches_brute_force(data, frac, by):
    assert plots.top_share(data, frac, by=by) == pytest.approx(brute_top_share(data, frac, by), abs=1e-12)


def test_top_share_on_tiny_by_hand(tiny):
    # 6 items → top 20% is 1 item: item 1 with 5 of the 11 ratings
    assert plots.top_share(tiny, 0.2) == pytest.approx(5 / 11)
    # 5 users → top 40% is 2 users: 4 + 4 ratings of 11
    assert plots.top_share(tiny, 0.4, by="user") == pytest.approx(8 / 11)


@pytest.mark.parametrize("kwargs", [{"frac": 0}, {"frac": 1.5}, {"frac": -0.2}, {"by": "movie"}])
def test_top_share_rejects_bad_arguments(tiny, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        plots.top_share(tiny, **kwargs)


def test_top_share_of_no_ratings_is_nan(tiny):
    assert np.isnan(plots.top_share(tiny.with_ratings(tiny.ratings.iloc[:0])))


def _period_start(ts: int, freq: str) -> dt.date:
    day = dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).date()
    if freq == "D":
        return day
    if freq == "W":
        return day - dt.timedelta(days=day.weekday())  # weeks start on Monday
    return day.replace(day=1)


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_ratings_over_time_matches_calendar_arithmetic(data, freq):
    series = plots.ratings_over_time(data, freq)
    expected = Counter(_period_start(t, freq) for t in data.ratings["timestamp"])
    got = {ts.date(): int(n) for ts, n in series.items()}
    assert {k: v for k, v in got.items() if v} == dict(expected)
    assert series.sum() == len(data)
    # consecutive periods, gaps kept as zeros, first and last periods hold ratings
    starts = [ts.date() for ts in series.index]
    assert starts[0] == min(expected) and starts[-1] == max(expected)
    assert len(starts) == len(set(starts)) and starts == sorted(starts)
    if freq == "D":
        assert len(starts) == (starts[-1] - starts[0]).days + 1
    if freq == "W":
        assert len(starts) == (starts[-1] - starts[0]).days // 7 + 1


def test_ratings_over_time_on_tiny_by_hand(tiny):
    months = plots.ratings_over_time(tiny, "M")
    assert [str(ts.date()) for ts in months.index] == ["1998-01-01", "1998-02-01"]
    assert months.tolist() == [7, 4]  # days 0 to 12 fall in January, days 33 to 41 in February


def test_ratings_over_time_rejects_unknown_frequency(tiny):
    with pytest.raises(ValueError, match="freq='Y'"):
        plots.ratings_over_time(tiny, "Y")


def test_ratings_over_time_of_no_ratings_is_empty(tiny):
    assert len(plots.ratings_over_time(tiny.with_ratings(tiny.ratings.iloc[:0]))) == 0


def test_density_grid_at_full_resolution_is_the_sorted_matrix(data):
    grid = plots.sorted_density_grid(data, shape=(data.n_users, data.n_items))
    np.testing.assert_array_equal(grid, brute_sorted_dense(data))


def test_density_grid_blocks_are_block_means(synthetic):
    # 300 users × 120 items in (100, 40) blocks: every block is exactly 3 × 3 cells
    grid = plots.sorted_density_grid(synthetic, shape=(100, 40))
    dense = brute_sorted_dense(synthetic)
    np.testing.assert_allclose(grid, dense.reshape(100, 3, 40, 3).mean(axis=(1, 3)))


def test_density_grid_uneven_blocks_keep_the_overall_density(data):
    grid = plots.sorted_density_grid(data, shape=(3, 4))
    rows = np.diff(np.linspace(0, data.n_users, 4).round())
    cols = np.diff(np.linspace(0, data.n_items, 5).round())
    observed = (grid * np.outer(rows, cols)).sum()
    assert observed == pytest.approx(brute_dense(data).sum())
    assert grid.min() >= 0 and grid.max() <= 1


def test_density_grid_caps_blocks_at_matrix_size(tiny):
    assert plots.sorted_density_grid(tiny, shape=(100, 200)).shape == (5, 6)


@pytest.mark.parametrize("shape", [(0, 5), (5,), (3, -1)])
def test_density_grid_rejects_bad_shapes(tiny, shape):
    with pytest.raises(ValueError, match="shape"):
        plots.sorted_density_grid(tiny, shape=shape)


def test_key_numbers_match_pandas(data):
    k = plots.key_numbers(data)
    r = data.ratings
    pairs = len({(u, i) for u, i in zip(r["user"], r["item"])})
    per_user = r.groupby("user").size().reindex(range(data.n_users), fill_value=0)
    assert k["ratings"] == len(r)
    assert (k["users"], k["items"]) == (data.n_users, data.n_items)
    assert k["density"] == pytest.approx(pairs / (data.n_users * data.n_items))
    assert k["mean_rating"] == pytest.approx(sum(r["rating"]) / len(r))
    assert k["median_ratings_per_user"] == per_user.median()
    assert k["top_share"] == pytest.approx(brute_top_share(data, 0.2, "item"))
    first = dt.datetime.fromtimestamp(int(min(r["timestamp"])), dt.timezone.utc)
    last = dt.datetime.fromtimestamp(int(max(r["timestamp"])), dt.timezone.utc)
    assert (k["first_rating"], k["last_rating"]) == (f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}")


def test_key_numbers_on_tiny_by_hand(tiny):
    k = plots.key_numbers(tiny)
    assert k["density"] == pytest.approx(10 / 30)  # 11 ratings, one repeated pair
    assert k["median_ratings_per_user"] == 2  # counts 4, 2, 4, 1, 0
    assert (k["first_rating"], k["last_rating"]) == ("1998-01-01", "1998-02-11")


def test_describe_is_text_of_the_key_numbers(tiny):
    table = plots.describe(tiny)
    assert list(table.columns) == ["value"]
    assert all(isinstance(v, str) for v in table["value"])
    text = table.to_string()
    for expected in ("33.3333%", "1998-01-01 to 1998-02-11", "45.45%", "3.6364"):
        assert expected in text


# ---------------------------------------------------------------------------------- figures
FIGURES = [
    plots.plot_rating_distribution,
    plots.plot_long_tail,
    plots.plot_user_activity,
    plots.plot_activity_over_time,
    plots.plot_sparsity,
]


@pytest.mark.parametrize("plot", FIGURES, ids=lambda f: f.__name__)
def test_figures_return_labelled_axes(data, plot):
    ax = plot(data)
    assert isinstance(ax, plt.Axes)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


@pytest.mark.parametrize("plot", FIGURES, ids=lambda f: f.__name__)
def test_figures_draw_on_the_axes_given(tiny, plot):
    _, ax = plt.subplots()
    assert plot(tiny, ax=ax) is ax


def test_long_tail_uses_a_log_axis_and_names_the_share(tiny):
    ax = plots.plot_long_tail(tiny)
    assert ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert any("45% of ratings" in label for label in labels)  # 5/11 on the top item


def test_user_activity_uses_a_log_axis(tiny):
    assert plots.plot_user_activity(tiny).get_xscale() == "log"
