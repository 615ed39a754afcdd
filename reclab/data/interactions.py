"""`Interactions`: the one data structure every loader, split, model and metric shares.

A dataset is a ratings table (who rated what, how much, when) plus optional item and user tables,
with raw ids mapped to contiguous 0-based indices. Every source — the offline ml-100k copy, a
GroupLens download, synthetic data — normalises to it, and every part of a split is one too, on the
*same* index space, so a model trained on ``split.train`` scores the items of ``split.test``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

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
        Columns ``user`` (int32 index), ``item`` (int32 index), ``rating`` (float32),
        ``timestamp`` (int64, seconds since the epoch). Rows keep the order of the source file;
        that order is the documented tie-break wherever timestamps are equal.
    items : DataFrame
        One row per item index (``items.index == range(n_items)``) with ``item_id`` (raw id),
        ``title``, ``year`` (nullable Int64) and ``genres`` (a list of strings) for MovieLens.
    users : DataFrame or None
        One row per user index with ``user_id`` and whatever the source has (age, gender, ...).
        ``None`` when the dataset has no user table (then only ids are known).
    name, source : str
        What the data is ("ml-100k") and where it came from, for the set-up check.
    """

    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    name: str = "interactions"
    source: str = "in memory"

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
        """
        missing = [c for c in ("user_id", "item_id", "rating", "timestamp") if c not in ratings]
        if missing:
            raise ValueError(
                f"ratings is missing column(s) {missing}; it has {list(ratings.columns)}. "
                "Rename them to user_id, item_id, rating, timestamp."
            )
        if ratings["rating"].isna().any():
            n = int(ratings["rating"].isna().sum())
            raise ValueError(f"ratings has {n} NaN rating(s); drop or impute them before building Interactions.")
        user_ids = _ids(ratings["user_id"], users, "user_id", "users")
        item_ids = _ids(ratings["item_id"], items, "item_id", "items")
        u_index = pd.Index(user_ids)
        i_index = pd.Index(item_ids)
        frame = pd.DataFrame(
            {
                "user": u_index.get_indexer(ratings["user_id"]).astype(np.int32),
                "item": i_index.get_indexer(ratings["item_id"]).astype(np.int32),
                "rating": ratings["rating"].to_numpy(dtype=np.float32),
                "timestamp": ratings["timestamp"].to_numpy(dtype=np.int64),
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
        """The same ids, side tables and catalogue with another ratings table (a split part)."""
        return replace(self, ratings=ratings.reset_index(drop=True), name=name or self.name)

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
        """Map raw user ids to indices; an unknown id raises a KeyError naming it."""
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


def _ids(column: pd.Series, table: pd.DataFrame | None, id_col: str, table_name: str) -> np.ndarray:
    seen = pd.unique(column)
    if table is None:
        return np.sort(seen)
    if id_col not in table:
        raise ValueError(f"{table_name} has no {id_col!r} column; it has {list(table.columns)}.")
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
    return np.sort(table[id_col].to_numpy())


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
