"""Interactive explorers for the notebooks, and the plain functions behind them.

The logic lives in plain functions that return DataFrames — `user_panel`, `cold_start`,
`search_titles` — so tests and notebooks can call them without a browser. The widget builders
(`explorer`, `rate_movies`) only wire them to ipywidgets, which is imported inside them: importing
reclab never needs ipywidgets.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .data import Interactions
from .metrics import top_k

COLUMNS = ("item", "title", "year", "genres")


def item_table(data: Interactions, items, scores=None) -> pd.DataFrame:
    """Title, year and genres of ``items`` (item indices), in the order given, with ``score`` if given."""
    items = np.asarray(items, dtype=np.int64)
    meta = data.items.iloc[items] if len(items) else data.items.iloc[[]]
    table = pd.DataFrame({"item": items})
    for column in COLUMNS[1:]:
        if column in meta:
            values = meta[column].to_numpy()
            table[column] = [", ".join(v) if isinstance(v, (list, tuple, np.ndarray)) else v for v in values] \
                if column == "genres" else values
    if scores is not None:
        table["score"] = np.round(np.asarray(scores, dtype=float), 4)
    return table


def user_history(data: Interactions, user: int, n: int | None = None) -> pd.DataFrame:
    """The user's ratings in ``data``, most recent first (ties: later file row first)."""
    _check_user(data, user)
    r = data.ratings
    rows = r[r["user"] == user].iloc[::-1]
    rows = rows.iloc[np.argsort(-rows["timestamp"].to_numpy(), kind="stable")]
    if n is not None:
        rows = rows.head(n)
    table = item_table(data, rows["item"].to_numpy())
    table["rating"] = rows["rating"].to_numpy()
    return table


def user_panel(data: Interactions, models: Mapping[str, object], user: int, k: int = 10,
               n_history: int | None = 10) -> dict[str, pd.DataFrame]:
    """A user's recent history beside each model's top-``k``: ``{"history": ..., name: ...}``.

    ``data`` is the training data the models were fitted on (its items are excluded from the
    recommendations, as `recommend` does by default).

    Examples
    --------
    >>> panel = user_panel(split.train, {"EASE": ease, "content": cb}, user=0, k=5)   # doctest: +SKIP
    >>> print(panel["EASE"][["title", "score"]].to_string())                          # doctest: +SKIP
    """
    if not models:
        raise ValueError("models is empty; pass {name: fitted model, ...}.")
    out = {"history": user_history(data, user, n_history)}
    for name, model in models.items():
        items, scores = model.recommend(int(user), k=k)
        out[name] = item_table(data, items, scores)
    return out


def search_titles(data: Interactions, query: str, n: int = 10) -> pd.DataFrame:
    """Items whose title contains ``query`` (any case), most-rated first, with their rating count."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"query={query!r} must be a non-empty string, e.g. 'star wars'.")
    hits = np.flatnonzero(data.items["title"].str.contains(query.strip(), case=False, regex=False).to_numpy())
    counts = data.item_counts()
    hits = hits[np.argsort(-counts[hits], kind="stable")][:n]
    table = item_table(data, hits)
    table["n_ratings"] = counts[hits]
    return table


def cold_start(data: Interactions, model, ratings: dict[int, float], k: int = 10) -> pd.DataFrame:
    """Top-``k`` for a brand-new user who rated only ``ratings`` ({item index: stars}).

    ``model`` is a fitted `ContentBased` (anything with ``score_ratings``); the rated items are
    excluded. An empty ``ratings``, a non-finite rating or an unknown item raise an error
    (ValueError / KeyError) that says which.

    Examples
    --------
    >>> cold_start(split.train, ContentBased().fit(split.train), {49: 5, 171: 5}, k=5)   # doctest: +SKIP
    """
    if not hasattr(model, "score_ratings"):
        raise TypeError(f"{type(model).__name__} cannot score a new user from ratings; use a ContentBased model.")
    scores = model.score_ratings(ratings)  # (n_items,); validates ratings
    exclude = np.zeros((1, len(scores)), bool)
    exclude[0, list(ratings)] = True
    items, top = top_k(scores[None, :], k, exclude=exclude)
    keep = items[0] >= 0
    return item_table(data, items[0][keep], top[0][keep])


def _check_user(data: Interactions, user) -> None:
    if isinstance(user, bool) or not isinstance(user, (int, np.integer)) or not 0 <= user < data.n_users:
        raise KeyError(f"user={user!r} is not a user index of this data; use 0..{data.n_users - 1}.")


def _html(table: pd.DataFrame, title: str) -> str:
    return f"<b>{title}</b>" + table.to_html(index=False, border=0)


# ------------------------------------------------------------------------------ widgets
def explorer(data: Interactions, models: Mapping[str, object], k: int = 10, user: int = 0):
    """Pick a user and two models: the user's history beside each model's top-``k``.

    Returns an ipywidgets ``VBox``; display it in a notebook. The tables come from `user_panel`.
    """
    import ipywidgets as widgets

    names = list(models)
    if not names:
        raise ValueError("models is empty; pass {name: fitted model, ...}.")
    pick_user = widgets.BoundedIntText(value=user, min=0, max=data.n_users - 1, description="user")
    left = widgets.Dropdown(options=names, value=names[0], description="model A")
    right = widgets.Dropdown(options=names, value=names[min(1, len(names) - 1)], description="model B")
    panes = [widgets.HTML() for _ in range(3)]

    def refresh(_=None):
        chosen = {left.value: models[left.value], right.value: models[right.value]}
        panel = user_panel(data, chosen, int(pick_user.value), k)
        panes[0].value = _html(panel["history"], f"user {pick_user.value}: latest ratings")
        panes[1].value = _html(panel[left.value], left.value)
        panes[2].value = _html(panel[right.value], right.value)

    for control in (pick_user, left, right):
        control.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox([pick_user, left, right]), widgets.HBox(panes)])


def rate_movies(data: Interactions, model, k: int = 10):
    """"Rate a few movies": search titles, give stars, and watch the cold-start top-``k`` change.

    Returns an ipywidgets ``VBox``. Recommendations come from `cold_start` with ``model`` (a fitted
    ContentBased); the ratings given so far are in the returned box's ``ratings`` attribute.
    """
    import ipywidgets as widgets

    ratings: dict[int, float] = {}
    query = widgets.Text(value="star", description="search")
    found = widgets.Dropdown(description="movie", layout=widgets.Layout(width="420px"))
    stars = widgets.IntSlider(value=5, min=1, max=5, description="stars")
    add, clear = widgets.Button(description="rate it"), widgets.Button(description="start over")
    given, recs = widgets.HTML(), widgets.HTML()

    def search(_=None):
        hits = search_titles(data, query.value, n=20) if query.value.strip() else item_table(data, [])
        found.options = [(f"{t} ({y})", int(i)) for i, t, y in zip(hits["item"], hits["title"], hits["year"])]

    def show():
        if not ratings:
            given.value, recs.value = "<i>rate a movie to get recommendations</i>", ""
            return
        table = item_table(data, list(ratings))
        table["rating"] = list(ratings.values())
        given.value = _html(table, "your ratings")
        recs.value = _html(cold_start(data, model, ratings, k), f"top {k} for you")

    def on_add(_):
        if found.value is not None:
            ratings[int(found.value)] = float(stars.value)
            show()

    def on_clear(_):
        ratings.clear()
        show()

    query.observe(search, names="value")
    add.on_click(on_add)
    clear.on_click(on_clear)
    search()
    show()
    box = widgets.VBox([widgets.HBox([query, found]), widgets.HBox([stars, add, clear]), widgets.HBox([given, recs])])
    box.ratings = ratings
    return box
