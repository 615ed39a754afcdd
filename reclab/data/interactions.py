"""`Interactions`: the one data structure every loader, split, model and metric shares.

A dataset is a ratings table (who rated what, how much, when) plus optional item and user tables,
with raw ids mapped to contiguous 0-based indices. Every source — the offline ml-100k copy, a
GroupLens download, synthetic data — normalises to it, and every part of a split is one too, on the
*same* index space, so a model trained on ``split.train`` scores the items of ``split.test``.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

RATING_COLUMNS = ("user", "item", "rating", "timestamp")


@dataclass(frozen=True, eq=False)
class Interactions:
    """Ratings plus item and user side tables, on 0-based contiguous ids.

    Attributes
    ----------
    ratings : DataFrame
        Columns ``user`` (int32 index), ``item`` (int32 index), ``rating`` (float32: any finite
        number, negative and zero included), ``timestamp`` (int64, seconds since the epoch). Rows
        keep the order of the source file; that order is the documented tie-break wherever
        timestamps are equal.
    items : DataFrame
        One row per item index (``items.index == range(n_items)``) with ``item_id`` (raw id),
        ``title``, ``year`` (nullable Int64) and ``genres`` (a list of strings) for MovieLens.
    users : DataFrame or None
        One row per user index with ``user_id`` and whatever the source has (age, gender, ...).
        ``None`` when the dataset has no user table (then only ids are known).
    name, source : str
        What the data is ("ml-100k") and where it came from, for the set-up check.

    Built by hand (the dataclass constructor, or `with_ratings` for a split part), the structure
    is checked at once, in O(rows): the four columns with integer ``user``/``item``/``timestamp``
    and numeric ``rating``, indices inside ``0..n_users-1`` and ``0..n_items-1``, unique ids, and
    side tables with one row per index. The *values* (NaN or infinite ratings, missing ids or
    times) are checked by `from_frames`; a part may hold a NaN rating a model then refuses.
    """

    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    name: str = "interactions"
    source: str = "in memory"

    def __post_init__(self) -> None:
        _check_structure(self)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frames(
        cls,
        ratings: pd.DataFrame,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        *,
        name: str = "interactions",
        source: str = "in memory",
    ) -> "Interactions":
        """Build from raw-id frames: ``ratings`` has ``user_id, item_id, rating, timestamp``.

        Items listed in ``items`` but never rated still get an index (a catalogue item nobody has
        rated yet is a real cold-start item); likewise users in ``users``. Indices follow the
        sorted raw ids. A rating whose user or item is missing from a given side table is an error.

        What each column may hold (anything else is refused with the column, the row count and
        the fix; nothing is dropped or repaired):

        - ids: integers that fit int64 (numpy, Python or nullable ints; whole floats such as
          ``1.0`` up to 2**53, beyond which a float cannot tell neighbouring ids apart), or
          strings. No NaN/None, no fractions (``1.5``), no mix of numbers and strings.
        - ``rating``: finite numbers (negative allowed) that fit float32; NaN and ±inf refused.
        - ``timestamp``: whole Unix seconds (ints, or floats such as ``5.0``), or datetimes
          (naive ones are read as UTC), converted to seconds; NaN/NaT, fractions of a second and
          strings are refused (convert strings with ``pd.to_datetime`` or ``pd.to_numeric``).
        - ``ratings`` needs at least one row. A repeated (user, item) pair is kept (`to_csr`
          keeps the latest).

        Examples
        --------
        >>> ratings = pd.DataFrame({"user_id": [7, 7, 9], "item_id": ["a", "b", "a"],
        ...                         "rating": [4.0, -1.0, 5.0], "timestamp": [10, 20, 30]})
        >>> Interactions.from_frames(ratings).n_users
        2
        """
        if not isinstance(ratings, pd.DataFrame):
            raise TypeError(f"ratings must be a pandas DataFrame; got {type(ratings).__name__}.")
        missing = [c for c in ("user_id", "item_id", "rating", "timestamp") if c not in ratings]
        if missing:
            raise ValueError(
                f"ratings is missing column(s) {missing}; it has {list(ratings.columns)}. "
                "Rename them to user_id, item_id, rating, timestamp."
            )
        if len(ratings) == 0:
            raise ValueError(
                f"ratings has the columns {list(ratings.columns)} but no rows; an Interactions needs "
                "at least one rating (check the filter or the file that produced it)."
            )
        raw_users = _clean_ids(ratings["user_id"], "ratings", "user_id")
        raw_items = _clean_ids(ratings["item_id"], "ratings", "item_id")
        rating = _clean_ratings(ratings["rating"])
        timestamp = _clean_timestamps(ratings["timestamp"])
        user_ids, users = _ids(raw_users, users, "user_id", "users")
        item_ids, items = _ids(raw_items, items, "item_id", "items")
        frame = pd.DataFrame(
            {
                "user": pd.Index(user_ids).get_indexer(raw_users).astype(np.int32),
                "item": pd.Index(item_ids).get_indexer(raw_items).astype(np.int32),
                "rating": rating,
                "timestamp": timestamp,
            }
        )
        if items is None:
            items = pd.DataFrame({"item_id": item_ids})
        else:
            items = items.set_index("item_id").loc[item_ids].reset_index()
        if users is not None:
            users = users.set_index("user_id").loc[user_ids].reset_index()
        return cls(frame, items, users, np.asarray(user_ids), np.asarray(item_ids), name, source)

    def with_ratings(self, ratings: pd.DataFrame, name: str | None = None) -> "Interactions":
        """The same ids, side tables and catalogue with another ratings table (a split part).

        ``ratings`` has the columns of ``self.ratings`` (indices, not raw ids); its structure is
        checked as for the constructor.
        """
        return replace(self, ratings=ratings.reset_index(drop=True), name=name or self.name)

    def then(self, later: "Interactions", name: str | None = None) -> "Interactions":
        """This history followed by ``later`` (e.g. train then valid): one `Interactions`.

        Rows of ``later`` come after this one's, so at equal timestamps they count as later in
        `time_order` — what a user did in the validation part happened after their training part.
        """
        self.check_same_ids(later, "later")
        return self.with_ratings(pd.concat([self.ratings, later.ratings], ignore_index=True), name=name)

    def check_same_ids(self, other: "Interactions", name: str = "other") -> None:
        """TypeError / ValueError unless ``other`` is an `Interactions` on these users, items and ids.

        Two parts of one split pass; data from another dataset, or the same sizes with other raw
        ids, do not: their rows would mean other people and other items.
        """
        if not isinstance(other, Interactions):
            raise TypeError(f"{name} must be an Interactions (e.g. split.{name}), got {type(other).__name__}.")
        if other.n_items != self.n_items or other.n_users != self.n_users:
            raise ValueError(
                f"{name} has {other.n_users} users and {other.n_items} items but train has {self.n_users} and "
                f"{self.n_items}; pass parts of the same split (split.train, split.{name})."
            )
        for what in ("user", "item"):
            mine, theirs = getattr(self, f"{what}_ids"), getattr(other, f"{what}_ids")
            if mine is not theirs and not np.array_equal(np.asarray(mine), np.asarray(theirs)):
                first = int(np.flatnonzero(np.asarray(mine) != np.asarray(theirs))[0])
                raw = [_plain(ids[first]) for ids in (theirs, mine)]
                raise ValueError(
                    f"{name} and train index different {what}s: {what} index {first} is {what}_id {raw[0]!r} in "
                    f"{name} but {raw[1]!r} in train; pass parts of the same split (split.train, split.{name})."
                )

    def view(self, key: str, build: Callable[["Interactions"], Any]) -> Any:
        """``build(self)``, computed once per `Interactions` object and kept while it lives.

        Models score many batches from one history; its binary matrix or its sequences are built
        on the first call only. ``key`` names the view (e.g. "binary"); a view must not be
        modified, since every later caller gets the same object.
        """
        views = _VIEWS.setdefault(self, {})
        if key not in views:
            views[key] = build(self)
        return views[key]

    def binary(self) -> sp.csr_matrix:
        """``to_csr("binary")``, built once (a shared view: do not modify it)."""
        return self.view("binary", lambda d: d.to_csr("binary"))

    # ------------------------------------------------------------------ sizes and ids
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.ratings)

    def __repr__(self) -> str:
        return (
            f"Interactions({self.name!r}: {len(self):,} ratings, {self.n_users:,} users, "
            f"{self.n_items:,} items, density {self.density:.4%})"
        )

    @property
    def density(self) -> float:
        """Fraction of the user × item matrix that is observed (distinct pairs)."""
        pairs = len(self.ratings.drop_duplicates(["user", "item"]))
        return pairs / max(1, self.n_users * self.n_items)

    def user_index(self, raw_ids) -> np.ndarray:
        """Map raw user ids (one, numpy scalars included, or many) to indices; an unknown id
        raises a KeyError naming it."""
        return _lookup(self.user_ids, raw_ids, "user")

    def item_index(self, raw_ids) -> np.ndarray:
        """Map raw item ids to indices; an unknown id raises a KeyError naming it."""
        return _lookup(self.item_ids, raw_ids, "item")

    # ------------------------------------------------------------------ views
    def to_csr(self, value: str = "rating") -> sp.csr_matrix:
        """The (n_users, n_items) matrix; ``value`` is "rating" or "binary" (1 for each pair).

        Repeated (user, item) pairs keep the *latest* rating (by timestamp, then file order), so
        the matrix never holds a sum of ratings.
        """
        if value not in ("rating", "binary"):
            raise ValueError(f"value={value!r} is not supported; use 'rating' or 'binary'.")
        r = self.ratings
        order = np.lexsort((np.arange(len(r)), r["timestamp"].to_numpy()))
        last = r.iloc[order].drop_duplicates(["user", "item"], keep="last")
        data = np.ones(len(last), np.float32) if value == "binary" else last["rating"].to_numpy(np.float32)
        m = sp.csr_matrix(
            (data, (last["user"].to_numpy(), last["item"].to_numpy())), shape=(self.n_users, self.n_items)
        )
        m.sort_indices()
        return m

    def time_order(self) -> np.ndarray:
        """Row positions sorted by (user, timestamp, file order): the canonical chronology.

        Equal timestamps — ml-100k has many, as users rated in bursts — are broken by the order of
        the rows in the source file, so the order is deterministic and independent of any sort
        algorithm.
        """
        r = self.ratings
        return np.lexsort((np.arange(len(r)), r["timestamp"].to_numpy(), r["user"].to_numpy()))

    def sequences(self) -> list[np.ndarray]:
        """Per-user item sequences in time order: ``seqs[u]`` is an int array (may be empty)."""
        order = self.time_order()
        users = self.ratings["user"].to_numpy()[order]
        items = self.ratings["item"].to_numpy()[order]
        bounds = np.searchsorted(users, np.arange(self.n_users + 1))
        return [items[bounds[u]: bounds[u + 1]] for u in range(self.n_users)]

    def item_counts(self) -> np.ndarray:
        """Number of ratings per item, shape (n_items,)."""
        return np.bincount(self.ratings["item"].to_numpy(), minlength=self.n_items)

    def user_counts(self) -> np.ndarray:
        """Number of ratings per user, shape (n_users,)."""
        return np.bincount(self.ratings["user"].to_numpy(), minlength=self.n_users)


_VIEWS: "weakref.WeakKeyDictionary[Interactions, dict[str, Any]]" = weakref.WeakKeyDictionary()


def _ids(seen_rows: np.ndarray, table: pd.DataFrame | None, id_col: str, table_name: str):
    """The sorted ids of a dimension and the side table with its id column cleaned the same way."""
    seen = pd.unique(seen_rows)
    if table is None:
        return np.sort(seen), None
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{table_name} must be a pandas DataFrame or None; got {type(table).__name__}.")
    if id_col not in table:
        raise ValueError(f"{table_name} has no {id_col!r} column; it has {list(table.columns)}.")
    table = table.assign(**{id_col: _clean_ids(table[id_col], table_name, id_col)})
    if table[id_col].duplicated().any():
        dup = _plain(table[id_col][table[id_col].duplicated()].iloc[0])
        raise ValueError(f"{table_name} lists {id_col}={dup!r} more than once; each id needs one row.")
    known = pd.Index(table[id_col])
    unknown = seen[known.get_indexer(seen) < 0]
    if len(unknown):
        raise ValueError(
            f"{len(unknown)} {id_col} value(s) in ratings are missing from {table_name} "
            f"(first: {_plain(unknown[0])!r}); add rows for them or drop those ratings."
        )
    return np.sort(table[id_col].to_numpy()), table


# ---------------------------------------------------------------------- column checks
_EXACT = 2**53  # a float64 holds every integer up to here; beyond, neighbouring ids share a float
_I64 = (-(2**63), 2**63 - 1)


def _first(mask, values) -> str:
    """``'<value> at <table>.iloc[i]'`` for the first row where ``mask`` holds."""
    mask = np.asarray(mask, bool)
    i = int(np.argmax(mask))
    return f"{_plain(np.asarray(values, dtype=object)[i])!r} at iloc[{i}]"


def _whole(values: pd.Series, where: str, column: str, fix: str) -> np.ndarray:
    """A numeric column with no missing value as int64, refusing what int64 would change."""
    name = f"{where} column {column!r}"
    if pd.api.types.infer_dtype(values, skipna=False) == "integer":
        lo, hi = values.min(), values.max()
        if int(lo) < _I64[0] or int(hi) > _I64[1]:
            bad = values.map(lambda v: not _I64[0] <= int(v) <= _I64[1]).to_numpy(bool)
            raise ValueError(
                f"{name} has {int(bad.sum())} value(s) that do not fit int64 (first: {_first(bad, values)}); "
                f"as int64 they would wrap or merge. {fix}"
            )
        return values.to_numpy(dtype=np.int64)
    x = pd.to_numeric(values).to_numpy(dtype=np.float64)
    problems = (
        (~np.isfinite(x), "infinite"),
        (np.isfinite(x) & (x != np.floor(x)), "not whole numbers"),
        (np.isfinite(x) & (np.abs(x) > _EXACT), "floats beyond 2**53, where float64 cannot tell neighbouring integers apart"),
    )
    for bad, what in problems:
        if bad.any():
            raise ValueError(f"{name} has {int(bad.sum())} value(s) that are {what} (first: {_first(bad, x)}). {fix}")
    return x.astype(np.int64)


def _missing(values: pd.Series, where: str, column: str, fix: str) -> None:
    bad = values.isna().to_numpy(bool)
    if bad.any():
        raise ValueError(
            f"{where} column {column!r} has {int(bad.sum())} missing value(s) (NaN/None/NaT, first at "
            f"iloc[{int(np.argmax(bad))}]) out of {len(values):,} rows. {fix}"
        )


def _clean_ids(values: pd.Series, where: str, column: str) -> np.ndarray:
    """Raw ids as int64 (numbers) or object (strings); anything that could merge ids is refused."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(values.cat.categories.dtype)
    _missing(values, where, column, "An id must name one user or item: drop those rows or fill them.")
    kind = pd.api.types.infer_dtype(values, skipna=False)
    if kind in ("string", "empty"):  # "empty": a side table without rows; its ids are checked later
        return values.to_numpy(dtype=object)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal") and values.dtype != bool:
        return _whole(values, where, column,
                      f"Ids must be whole numbers that fit int64, or strings: read the column as str "
                      f"(e.g. pd.read_csv(..., dtype={{{column!r}: str}})) to keep every id distinct.")
    raise TypeError(
        f"{where} column {column!r} holds {kind} values (first: {_plain(values.iloc[0])!r}, dtype {values.dtype}); "
        f"ids must be all integers or all strings. Convert with {where}[{column!r}].astype(str)."
    )


def _clean_ratings(values: pd.Series) -> np.ndarray:
    """Ratings as float32: finite numbers of any sign; NaN, ±inf and float32 overflow are refused."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"):
        raise TypeError(
            f"ratings column 'rating' holds {kind} values (first: {_plain(values.iloc[0])!r}); ratings are "
            "numbers. Convert with pd.to_numeric(ratings['rating'])."
        )
    x = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(x).any():
        n = int(np.isnan(x).sum())
        raise ValueError(
            f"ratings has {n} NaN rating(s) in column 'rating' (first at iloc[{int(np.argmax(np.isnan(x)))}]); "
            "drop or impute them before building Interactions."
        )
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    bad = ~np.isfinite(x32)
    if bad.any():
        what = "infinite" if np.isinf(x[bad]).all() else "infinite or beyond-float32 (|r| > 3.4e38)"
        raise ValueError(
            f"ratings has {int(bad.sum())} {what} rating(s) in column 'rating' (first: {_first(bad, x)}); "
            "ratings must be finite numbers (any sign). Drop or clip those rows."
        )
    return x32


def _clean_timestamps(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 Unix seconds, from whole numbers or datetimes (naive = UTC)."""
    fix = "Drop or fill those rows; a missing time would otherwise sort as the oldest rating."
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if pd.api.types.is_datetime64_any_dtype(values) or kind in ("datetime", "datetime64", "date"):
        _missing(values, "ratings", "timestamp", fix)
        try:
            stamps = pd.to_datetime(values, utc=True).dt.tz_localize(None).to_numpy()
        except (TypeError, ValueError) as err:
            raise TypeError(f"ratings column 'timestamp' holds datetimes pandas cannot convert ({err}).") from err
        seconds = stamps.astype("datetime64[s]")
        bad = seconds != stamps
        if bad.any():
            raise ValueError(
                f"ratings column 'timestamp' has {int(bad.sum())} datetime(s) with fractions of a second "
                f"(first: {_first(bad, values)}); timestamps are whole seconds. Floor them first: "
                "ratings['timestamp'].dt.floor('s') (equal seconds are then ordered by row)."
            )
        return seconds.astype(np.int64)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal") and values.dtype != bool:
        _missing(values, "ratings", "timestamp", fix)
        return _whole(values, "ratings", "timestamp",
                      "Timestamps are whole Unix seconds: floor them (np.floor) or convert the unit, "
                      "and drop rows without a time.")
    raise TypeError(
        f"ratings column 'timestamp' holds {kind} values (first: {_plain(values.iloc[0])!r}); it needs Unix "
        "seconds or datetimes. Convert strings with pd.to_datetime(...) (dates) or pd.to_numeric(...) (seconds)."
    )


def _check_structure(d: "Interactions") -> None:
    """The O(rows) checks every construction runs: columns, dtypes, index ranges, side tables."""
    r = d.ratings
    if not isinstance(r, pd.DataFrame):
        raise TypeError(f"ratings must be a pandas DataFrame; got {type(r).__name__}.")
    missing = [c for c in RATING_COLUMNS if c not in r.columns]
    if missing:
        raise ValueError(
            f"ratings lacks column(s) {missing} (it has {list(r.columns)}); an Interactions holds "
            "user, item (0-based indices), rating and timestamp. Build it from raw ids with Interactions.from_frames."
        )
    for column, kinds, want in (("user", "iu", "integer indices"), ("item", "iu", "integer indices"),
                                ("rating", "iuf", "numbers"), ("timestamp", "iu", "integer Unix seconds")):
        dtype = r[column].dtype
        if not (isinstance(dtype, np.dtype) and dtype.kind in kinds):
            raise TypeError(
                f"ratings column {column!r} has dtype {dtype}; it must hold {want}. "
                "Interactions.from_frames converts raw columns (ids, datetimes) for you."
            )
    for column, ids, attr in (("user", d.user_ids, "user_ids"), ("item", d.item_ids, "item_ids")):
        if np.ndim(ids) != 1:
            raise ValueError(f"{attr} must be 1-D (one raw id per index); got shape {np.shape(ids)}.")
        if not pd.Index(ids).is_unique:
            raise ValueError(f"{attr} repeats an id; each raw id needs exactly one index.")
        index, n = r[column].to_numpy(), len(ids)
        if len(index) and (index.min() < 0 or index.max() >= n):
            bad = (index < 0) | (index >= n)
            raise ValueError(
                f"ratings column {column!r} has {int(bad.sum())} index(es) outside 0..{n - 1} "
                f"(first: {_first(bad, index)}); {attr} has {n:,} ids. Map raw ids with "
                f"Interactions.from_frames, or extend {attr}."
            )
    for table, ids, name, id_col in ((d.items, d.item_ids, "items", "item_id"), (d.users, d.user_ids, "users", "user_id")):
        if table is None:
            continue
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame or None; got {type(table).__name__}.")
        if len(table) != len(ids):
            raise ValueError(
                f"{name} has {len(table):,} rows but {id_col[:4]}_ids has {len(ids):,}; row i of {name} "
                f"describes index i, so the lengths must match."
            )
        if id_col in table and not np.array_equal(table[id_col].to_numpy(dtype=object), np.asarray(ids, dtype=object)):
            bad = table[id_col].to_numpy(dtype=object) != np.asarray(ids, dtype=object)
            raise ValueError(
                f"{name}[{id_col!r}] is not {id_col[:4]}_ids in order (first difference: {_first(bad, table[id_col])}); "
                f"row i must describe index i. Reorder with {name}.set_index({id_col!r}).loc[{id_col[:4]}_ids].reset_index()."
            )


def _lookup(ids: np.ndarray, raw_ids, what: str) -> np.ndarray:
    index = pd.Index(ids)
    raw = np.atleast_1d(np.asarray(raw_ids))
    out = index.get_indexer(raw)
    if (out < 0).any():
        bad = _plain(raw[out < 0][0])
        raise KeyError(f"unknown {what} id {bad!r}: it is not in this dataset's {len(ids):,} {what}s.")
    return out


def _plain(value):
    """A numpy scalar as the plain Python value, so messages read `99`, not `np.int64(99)`."""
    return value.item() if isinstance(value, np.generic) else value
