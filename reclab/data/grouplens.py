"""GroupLens MovieLens archives: download, verify, extract safely, and read into raw-id frames.

MovieLens (F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and Context",
ACM Transactions on Interactive Intelligent Systems 5(4), 2015) is published by GroupLens as one
zip per size under `BASE_URL`. `fetch` puts an archive into the cache folder and extracts it;
`read` parses the extracted folder. `reclab.data.movielens.load_movielens` joins the two.

Every archive is checked against the SHA-256 pinned in `ARCHIVES` before use, including one you
placed in the cache folder by hand. Should GroupLens republish an archive (ml-latest-small is the
one meant to change over time), pass ``checksum="md5-file"`` to verify against the
``<archive>.md5`` file GroupLens publishes next to each archive instead, or pass your own digest.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import re
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .titles import split_title_year

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
MD5_FILE = "md5-file"  # checksum= value: verify against GroupLens' published <archive>.md5
MARKER = ".complete"  # written into a dataset folder once it is fully extracted
CHUNK = 1 << 20
TIMEOUT_S = 60
RECBOLE_HINT = "pip install --no-deps recbole==1.2.1"
GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western")  # the order of u.genre
NO_GENRES = "(no genres listed)"


@dataclass(frozen=True)
class Archive:
    """One GroupLens archive: its file name, the folder it unpacks to and its SHA-256."""

    file: str
    folder: str
    sha256: str


# The SHA-256 values are published facts, not computed here. Five are TensorFlow Datasets'
# (github.com/tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt, which also
# records the byte sizes). ml-10m is absent there; its value is OmniRec's (github.com/ISG-Siegen/
# OmniRec, src/omnirec/data_loaders/movielens_small.py, whose ml-1m value agrees with TFDS), for a
# 65,566,137-byte file whose MD5 ce571fd55effeba0271552578f2648bd is the one GroupLens publishes
# in ml-10m.zip.md5, as several independent loaders quote it.
ARCHIVES = {
    "100k": Archive("ml-100k.zip", "ml-100k",
                    "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    "latest-small": Archive("ml-latest-small.zip", "ml-latest-small",
                            "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
    "1m": Archive("ml-1m.zip", "ml-1m", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
    "10m": Archive("ml-10m.zip", "ml-10M100K",
                   "813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862"),
    "20m": Archive("ml-20m.zip", "ml-20m", "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"),
    "25m": Archive("ml-25m.zip", "ml-25m", "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"),
}


class DownloadError(ConnectionError):
    """A download failed: offline, server unreachable or refusing, or the transfer broke off."""


def _archive(size: str) -> Archive:
    if size not in ARCHIVES:
        raise ValueError(f"size={size!r} is not a MovieLens size; choose one of {', '.join(ARCHIVES)}.")
    return ARCHIVES[size]


# ---------------------------------------------------------------------------------- fetch
def fetch(size: str, *, cache_dir: Path, base_url: str | None = None, checksum: str | None = None) -> Path:
    """Download, verify and extract one archive into ``cache_dir``; return the dataset folder.

    Parameters
    ----------
    size : str
        A key of `ARCHIVES`.
    cache_dir : Path
        An existing folder. A folder extracted there by an earlier call is returned without network.
    base_url : str, optional
        Where the archives are served (http://, https:// or file://); default `BASE_URL`.
    checksum : str, optional
        Hex MD5 or SHA-256 the archive must have, or ``"md5-file"`` for GroupLens' published
        ``<archive>.md5``; default the SHA-256 pinned in `ARCHIVES`.
    """
    spec = _archive(size)
    cache_dir = Path(cache_dir)
    folder = cache_dir / spec.folder
    if (folder / MARKER).is_file():
        return folder
    base = base_url or BASE_URL
    url = base + ("" if base.endswith("/") else "/") + spec.file
    archive = cache_dir / spec.file
    expected = _expected(checksum or spec.sha256, url, archive)
    if archive.is_file():  # placed by hand, or kept from an earlier call: verified all the same
        _verify(archive, _hash_file(archive, expected), expected, f"{archive} (found in the cache folder)")
    else:
        _download(url, archive, expected)
    _extract(archive, spec.folder)
    return folder


def _expected(checksum: str, url: str, archive: Path) -> str:
    if checksum == MD5_FILE:
        with _open(url + ".md5", archive) as response:
            published = response.read(4096).decode("ascii", "replace")
        found = re.search(r"\b[0-9a-fA-F]{32}\b", published)
        if found is None:
            raise ValueError(f"{url}.md5 holds no MD5 digest ({published[:80]!r}); pass checksum= yourself.")
        return found.group(0).lower()
    if not re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", checksum):
        raise ValueError(f"checksum={checksum!r} is neither a hex MD5 (32 digits), a hex SHA-256 "
                         f"(64 digits) nor {MD5_FILE!r}; pass one of those.")
    return checksum.lower()


def _hasher(expected: str):
    return hashlib.md5(usedforsecurity=False) if len(expected) == 32 else hashlib.sha256()


def _hash_file(path: Path, expected: str) -> str:
    hasher = _hasher(expected)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _verify(path: Path, got: str, expected: str, what: str) -> None:
    if got != expected:
        path.unlink(missing_ok=True)  # a file that failed verification must never be used later
        raise ValueError(
            f"checksum mismatch for {what}: expected {'MD5' if len(expected) == 32 else 'SHA-256'} "
            f"{expected}, got {got}. The file was deleted; load again to re-download. If GroupLens "
            f"has republished it, pass checksum={MD5_FILE!r} to check its published .md5 instead."
        )


def _open(url: str, archive: Path):
    """`urlopen` whose failures say what happened and what to do about it."""
    advice = (f"Without network, for ml-100k install the offline copy: {RECBOLE_HINT}, "
              f"or place {archive.name} in {archive.parent} yourself.")
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"could not download {url}: the server answered HTTP {error.code} "
                            f"{error.reason}. Check base_url. {advice}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise DownloadError(f"could not download {url}: {getattr(error, 'reason', error)}. You are "
                            "offline or the server is unreachable; check your connection and base_url. "
                            f"{advice}") from error


def _download(url: str, archive: Path, expected: str) -> None:
    """Stream ``url`` into a ``.part`` file, verify it, then rename it to ``archive`` atomically."""
    fd, part = tempfile.mkstemp(prefix=f"{archive.name}.", suffix=".part", dir=archive.parent)
    hasher, received, total, error = _hasher(expected), 0, None, None
    try:
        try:
            with os.fdopen(fd, "wb") as out, _open(url, archive) as response:
                length = response.headers.get("Content-Length", "")
                total = int(length) if length.isdigit() else None
                with tqdm(total=total, unit="B", unit_scale=True, desc=archive.name,
                          disable=total is None) as bar:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        hasher.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        except DownloadError:
            raise
        except (OSError, http.client.HTTPException) as caught:  # the connection dropped mid-transfer
            error = caught
        # http.client returns a short body without complaint when the connection drops early
        if error is not None or (total is not None and received != total):
            raise DownloadError(
                f"download of {url} broke off after {received:,} of {total or '?'} bytes"
                f"{f' ({error})' if error else ''}; nothing was kept. Load again to retry, or place "
                f"{archive.name} in {archive.parent} yourself.") from error
        _verify(Path(part), hasher.hexdigest(), expected, url)
        os.replace(part, archive)
    finally:
        if os.path.exists(part):  # an interrupted or refused download leaves nothing behind
            os.unlink(part)


def _extract(archive: Path, name: str) -> None:
    """Unpack ``archive`` into a staging folder, refusing any member that would escape it."""
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".extracting", dir=archive.parent))
    try:
        root = staging.resolve()
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.infolist():
                    path = member.filename.replace("\\", "/")
                    if (path.startswith("/") or re.match(r"[A-Za-z]:", path)
                            or ".." in PurePosixPath(path).parts
                            or stat.S_ISLNK(member.external_attr >> 16)
                            or not (root / path).resolve().is_relative_to(root)):
                        raise ValueError(
                            f"{archive} member {member.filename!r} is an absolute path, a '..' path or "
                            "a symlink and would land outside the extraction folder; nothing was "
                            f"extracted. This is not a GroupLens archive: delete {archive} and load again.")
                zf.extractall(staging)
        except (zipfile.BadZipFile, EOFError) as error:
            raise ValueError(f"{archive} is not a readable zip ({error}); delete it and load again.") from error
        unpacked, final = staging / name, archive.parent / name
        if not unpacked.is_dir():
            raise ValueError(f"{archive} holds no {name}/ folder; delete it and load again to re-download.")
        (unpacked / MARKER).write_text(f"extracted from {archive.name}\n")
        if not (final / MARKER).is_file():  # else a concurrent call finished first: keep its folder
            if final.exists():  # unmarked: an earlier extraction did not finish, or not ours
                shutil.rmtree(final)
            os.replace(unpacked, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ----------------------------------------------------------------------------------- read
def read(size: str, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Parse an extracted dataset folder into ``(ratings, items, users)`` on raw ids.

    Parameters
    ----------
    size : str
        A key of `ARCHIVES`; it fixes the file format.
    folder : Path
        The folder `fetch` returned.

    Returns
    -------
    ratings : DataFrame
        ``user_id``, ``item_id`` (int64), ``rating`` (float32), ``timestamp`` (int64), file order.
    items : DataFrame
        ``item_id``, ``title`` (year removed), ``year`` (Int64), ``genres`` (list of str).
    users : DataFrame or None
        ``user_id`` and the dataset's user columns; None for sizes without a user file.
    """
    _archive(size)
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder={str(folder)!r} is not a folder; pass the path fetch({size!r}, ...) returned.")
    users = None
    if size == "100k":
        ratings = _table(folder, "u.data", sep="\t", names=["user_id", "item_id", "rating", "timestamp"])
        items = _rows(folder, "u.item", ["item_id", "title", "released", "video", "url", *GENRES_100K], "|")
        flags = items[list(GENRES_100K)].to_numpy()
        bad = ~np.isin(flags, ("0", "1")).all(axis=1)
        if bad.any():
            _fail(items.attrs["path"], f"line {items.index[np.argmax(bad)]} has a genre flag other than 0 or 1")
        genres = [[g for g, flag in zip(GENRES_100K, row) if flag == "1"] for row in flags]
        users = _rows(folder, "u.user", ["user_id", "age", "gender", "occupation", "zip_code"], "|")
        numeric = ("user_id", "age")
    elif size in ("1m", "10m"):
        # "::" would force pandas' slow python engine. Splitting on ":" keeps the C engine; the
        # fields between the colons must then be empty, or the row is garbled.
        names = ["user_id", "_1", "item_id", "_2", "rating", "_3", "timestamp"]
        ratings = _table(folder, "ratings.dat", sep=":", names=names, dtype=dict.fromkeys(names[1::2], "category"))
        garbled = ratings[names[1::2]].notna().any(axis=1).to_numpy()
        if garbled.any():
            _fail(ratings.attrs["path"], f"line {ratings.index[np.argmax(garbled)]} is garbled: fields "
                                         "must be separated by '::'")
        items = _rows(folder, "movies.dat", ["item_id", "title", "genres"], "::")
        genres = _split_genres(items)
        if size == "1m":
            users = _rows(folder, "users.dat", ["user_id", "gender", "age", "occupation", "zip_code"], "::")
            numeric = ("user_id", "age", "occupation")
    else:
        ratings = _table(folder, "ratings.csv", header=0)
        missing = [c for c in ("userId", "movieId", "rating", "timestamp") if c not in ratings.columns]
        if missing:
            _fail(ratings.attrs["path"], f"lacks column(s) {missing} (it has {list(ratings.columns)})")
        ratings = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})
        items = _rows(folder, "movies.csv", ["movieId", "title", "genres"]).rename(columns={"movieId": "item_id"})
        genres = _split_genres(items)
    if users is not None:
        users = users.assign(**{c: _numbers(users, c) for c in numeric}).reset_index(drop=True)
    return _ratings(ratings), _items(items, genres), users


def _fail(path: Path, problem: str):
    raise ValueError(f"{path}: {problem}. The file is damaged or not GroupLens' original; "
                     f"delete {path.parent} and load again to re-download.")


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ValueError(f"{name} is missing from {folder}; the dataset folder is incomplete. "
                         f"Delete {folder} and load again to re-download.")
    return path


def _table(folder: Path, name: str, header: int | None = None, **kwargs) -> pd.DataFrame:
    """Read a (large) ratings file with pandas' C engine; index = line numbers, path in ``attrs``."""
    path = _file(folder, name)
    try:
        with warnings.catch_warnings():  # pandas only warns when every row has surplus fields
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(path, index_col=False, header=header, **kwargs)
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as error:  # EmptyDataError too
        _fail(path, f"cannot be parsed ({error})")
    table.index = table.index + (1 if header is None else 2)  # line numbers, for the error messages
    table.attrs["path"] = path
    return table


def _rows(folder: Path, name: str, names: list[str], sep: str | None = None) -> pd.DataFrame:
    """Read a small text file into string columns ``names``, indexed by line number.

    ``sep=None`` reads CSV whose header names the columns (titles may be quoted); otherwise the
    file has no header and each line must have exactly ``len(names)`` fields.
    """
    path = _file(folder, name)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # ml-100k and ml-1m are latin-1 (ISO-8859-1)
        text = raw.decode("latin-1")
    if sep is None:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        lines = ((reader.line_num, fields) for fields in reader)
    else:
        lines = ((n, line.rstrip("\r").split(sep)) for n, line in enumerate(text.split("\n"), 1) if line.strip())
    records, numbers = [], []
    try:
        header = next(lines, (0, []))[1] if sep is None else names
        missing = [n for n in names if n not in header]
        if missing:
            _fail(path, f"lacks column(s) {missing} (it has {header})")
        keep = [header.index(n) for n in names]
        for number, fields in lines:
            if len(fields) != len(header):
                if not fields:  # a blank line in a CSV file
                    continue
                _fail(path, f"line {number} has {len(fields)} fields, expected {len(header)} "
                            f"({', '.join(header[:5])}{', ...' if len(header) > 5 else ''}); "
                            "the row is truncated or garbled")
            records.append([fields[i] for i in keep])
            numbers.append(number)
    except csv.Error as error:
        _fail(path, f"is not valid CSV ({error})")
    frame = pd.DataFrame(records, columns=names, index=numbers, dtype=str)
    frame.attrs["path"] = path
    return frame


def _numbers(table: pd.DataFrame, column: str, integer: bool = True) -> np.ndarray:
    """One column as int64 (or float64); an empty or non-numeric cell is an error naming its line."""
    series = table[column]
    values = series if series.dtype.kind in "iuf" else pd.to_numeric(series, errors="coerce")
    bad = values.isna().to_numpy()
    if integer and values.dtype.kind == "f":
        bad = bad | ((values.to_numpy() % 1) != 0)
    if bad.any():
        i = int(np.argmax(bad))
        raw = series.iloc[i]
        what = ("is empty: the row is truncated" if pd.isna(raw) or raw == ""
                else f"holds {raw!r}, not {'an integer' if integer else 'a number'}")
        _fail(table.attrs["path"], f"line {series.index[i]}: column {column!r} {what}")
    return values.to_numpy(np.int64 if integer else np.float64)


def _ratings(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": _numbers(table, "user_id"),
        "item_id": _numbers(table, "item_id"),
        "rating": _numbers(table, "rating", integer=False).astype(np.float32),
        "timestamp": _numbers(table, "timestamp"),
    })


def _split_genres(items: pd.DataFrame) -> list[list[str]]:
    return [[] if g in ("", NO_GENRES) else g.split("|") for g in items["genres"]]


def _items(items: pd.DataFrame, genres: list[list[str]]) -> pd.DataFrame:
    ids = _numbers(items, "item_id")
    repeated = pd.Index(ids).duplicated()
    if repeated.any():
        _fail(items.attrs["path"], f"item id {ids[repeated][0]} is listed twice (again on line "
                                   f"{items.index[np.argmax(repeated)]})")
    pairs = [split_title_year(title) for title in items["title"]]
    return pd.DataFrame({
        "item_id": ids,
        "title": [title for title, _ in pairs],
        "year": pd.array([year for _, year in pairs], dtype="Int64"),
        "genres": genres,
    })
