"""Interactive explorers for the notebooks, and the plain functions behind them.

The logic lives in plain functions that return DataFrames — `user_panel`, `cold_start`,
`search_titles` — so tests and notebooks can call them without a browser. Models score from a
history (`reclab.models.base`): the panel's from the data it shows, a newcomer's from
`newcomer_history`, the data with one user's ratings replaced by the newcomer's. The widget builders
(`explorer`, `rate_movies`) only wire them to ipywidgets, which is imported inside them: importing
reclab never needs ipywidgets.
"""
from __future__ import annotations

import html

from typing import Mapping

import numpy as np
import pandas as pd

from .data import Interactions

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

    ``data`` is the history shown and scored from: every model recommends from it
    (``model.recommend(user, k, history=data)``) and excludes its items. The training data the
    models were fitted on is the usual choice; ``split.history("test")`` (train + valid) or any
    history on the same users and items works too.

    Examples
    --------
    >>> panel = user_panel(split.train, {"EASE": ease, "content": cb}, user=0, k=5)   # doctest: +SKIP
    >>> print(panel["EASE"][["title", "score"]].to_string())                          # doctest: +SKIP
    """
    if not models:
        raise ValueError("models is empty; pass {name: fitted model, ...}.")
    out = {"history": user_history(data, user, n_history)}
    for name, model in models.items():
        items, scores = model.recommend(int(user), k=k, history=data)
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


def newcomer_history(data: Interactions, ratings: dict[int, float], user: int = 0) -> Interactions:
    """``data`` with user ``user``'s ratings replaced by a newcomer's ``ratings`` ({item index: stars}).

    A model scores a brand-new person as any user, from a history (`reclab.models.base`): the
    newcomer takes the place of ``user`` (their own rows are left out of this copy), and the
    ratings follow the dict's order in time, after every rating in ``data`` (the last entry is the
    most recent). An empty ``ratings``, a non-finite rating or an unknown item raise an error
    (ValueError / KeyError) that says which.

    Examples
    --------
    >>> history = newcomer_history(split.train, {49: 5.0, 171: 4.0})          # doctest: +SKIP
    >>> ContentBased().fit(split.train).score(0, history=history)              # doctest: +SKIP
    """
    if not isinstance(ratings, dict) or not ratings:
        raise ValueError(f"ratings must be a non-empty dict {{item index: rating}}, got {ratings!r}; "
                         "rate at least one item.")
    _check_user(data, user)
    items = list(ratings)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise KeyError(f"item index {item!r} in ratings is not an int; map raw ids with data.item_index(...).")
        if not 0 <= item < data.n_items:
            raise KeyError(f"item index {int(item)} in ratings is out of range: this data has items "
                           f"0..{data.n_items - 1}.")
    values = np.array([float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else np.nan
                       for v in ratings.values()])
    if not np.isfinite(values).all():
        raise ValueError(f"ratings must be finite numbers, got {ratings!r}.")
    r = data.ratings
    start = int(r["timestamp"].max()) + 1 if len(r) else 0
    new = pd.DataFrame({"user": np.full(len(items), user, np.int32), "item": np.asarray(items, np.int32),
                        "rating": values.astype(np.float32),
                        "timestamp": np.arange(start, start + len(items), dtype=np.int64)})
    rows = pd.concat([r[r["user"].to_numpy() != user], new], ignore_index=True)
    return data.with_ratings(rows, name=f"{data.name}, user {user} replaced by a newcomer")


def cold_start(data: Interactions, model, ratings: dict[int, float], k: int = 10) -> pd.DataFrame:
    """Top-``k`` for a brand-new user who rated only ``ratings`` ({item index: stars}).

    ``model`` is any fitted recommender on ``data``'s users and items (a `ContentBased` in the
    notebooks): it scores the newcomer from `newcomer_history` (``score(0, history=...)``), as
    it would any user, and the rated items are excluded. For a `ContentBased` this is
    ``model.score_ratings(ratings)``. An empty ``ratings``, a non-finite rating or an unknown
    item raise an error (ValueError / KeyError) that says which.

    Examples
    --------
    >>> cold_start(split.train, ContentBased().fit(split.train), {49: 5, 171: 5}, k=5)   # doctest: +SKIP
    """
    if not callable(getattr(model, "recommend", None)):
        raise TypeError(f"{type(model).__name__} is not a recommender; pass a fitted reclab model "
                        "(e.g. ContentBased().fit(train)).")
    history = newcomer_history(data, ratings)  # validates ratings
    items, top = model.recommend(0, k=k, history=history)  # the newcomer's rated items are masked
    keep = items >= 0
    return item_table(data, items[keep], top[keep])


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
    box = widgets.VBox([widgets.HBox([pick_user, left, right]), widgets.HBox(panes)])
    box.add_class("reclab-explorer")  # a name for the browser test (and for a course stylesheet)
    return box


def rate_movies(data: Interactions, model, k: int = 10):
    """"Rate a few movies": search titles, give stars, and watch the cold-start top-``k`` change.

    Returns an ipywidgets ``VBox``. Recommendations come from `cold_start` with ``model`` (a fitted
    recommender, e.g. ContentBased): the ratings given so far are a history it scores the
    newcomer from, and they are in the returned box's ``ratings`` attribute.
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
        # ipywidgets leaves a Dropdown's first options unselected (value None), and the browser shows
        # an empty box: "rate it" would do nothing until a movie is picked. Select the best match.
        found.index = 0 if found.options else None

    def show(note: str = ""):
        if not ratings:
            given.value, recs.value = note or "<i>rate a movie to get recommendations</i>", ""
            return
        table = item_table(data, list(ratings))
        table["rating"] = list(ratings.values())
        given.value = (f"{note}<br>" if note else "") + _html(table, "your ratings")
        recs.value = _html(cold_start(data, model, ratings, k), f"top {k} for you")

    def on_add(_):
        if found.value is None:  # nothing matches the search: say so rather than do nothing
            show(f"<i>no movie matches {html.escape(query.value)!r}: search for another title, then rate it</i>")
            return
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
    box.add_class("reclab-rate-movies")
    box.ratings = ratings
    return box
