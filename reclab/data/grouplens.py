"""GroupLens MovieLens archives: download, verify, extract safely, and read into raw-id frames.

MovieLens (F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and Context",
ACM Transactions on Interactive Intelligent Systems 5(4), 2015) is published by GroupLens as one
zip per size under `BASE_URL`. `fetch` puts an archive into the cache folder and extracts it;
`read` parses the extracted folder. `reclab.data.movielens.load_movielens` joins the two.

Every archive is checked against the SHA-256 pinned in `ARCHIVES` before use, including one you
placed in the cache folder by hand. Should GroupLens republish an archive (ml-latest-small is the
one meant to change over time), pass ``checksum="md5-file"`` to verify against the
``<archive>.md5`` file GroupLens publishes next to each archive instead, or pass your own digest.

What `fetch` promises:

- It deletes nothing it did not write. A dataset folder of that name without reclab's `MARKER`,
  or an archive in the cache that fails its checksum, is left as it is and named in the error.
  Only reclab's own ``.part`` downloads and staging folders are ever removed.
- Downloads end. ``deadline_s`` bounds a whole download (default `DEADLINE_S`, or
  ``$RECLAB_DOWNLOAD_DEADLINE_S``); a transfer that averages under `MIN_RATE` bytes/s over any
  ``stall_s`` window (default `STALL_S`, or ``$RECLAB_DOWNLOAD_STALL_S``) is a stall and is ended.
- Archives cannot fill the disk: members that declare more than `MAX_UNPACKED_BYTES` in all, more
  than the free space, or a compression ratio above `MAX_RATIO` are refused before extraction,
  and the bytes actually written are counted against the declared sizes while extracting.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import io
import math
import numbers
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .titles import split_title_year

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
SCHEMES = ("http", "https", "file")
MD5_FILE = "md5-file"  # checksum= value: verify against GroupLens' published <archive>.md5
MARKER = ".complete"  # written into a dataset folder once it is fully extracted
CHUNK = 1 << 20
DEADLINE_S = 3 * 3600.0  # a whole download: 1 GB at ~100 kB/s; ml-25m (262 MB) needs 25 kB/s
STALL_S = 60.0  # the stall detector's window, and the longest single wait on the socket
TIMEOUT_S = STALL_S  # the former name of the socket wait
MIN_RATE = 1024  # bytes/s a download must average over every stall window
DEADLINE_ENV, STALL_ENV = "RECLAB_DOWNLOAD_DEADLINE_S", "RECLAB_DOWNLOAD_STALL_S"
MAX_ARCHIVE_BYTES = 2 << 30  # the largest GroupLens archive, ml-25m, has 262 MB
MAX_UNPACKED_BYTES = 4 << 30  # ml-25m, the largest, unpacks to 1.2 GB
MAX_RATIO = 100  # GroupLens' text files compress ~5:1; zip bombs reach 1000:1 and more
RATIO_FLOOR = 1 << 20  # members smaller than this may compress as well as they like
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


class DownloadTimeout(DownloadError, TimeoutError):
    """A download passed its deadline or stalled (see `DEADLINE_S` and `STALL_S`)."""


def _archive(size: str) -> Archive:
    if size not in ARCHIVES:
        raise ValueError(f"size={size!r} is not a MovieLens size; choose one of {', '.join(ARCHIVES)}.")
    return ARCHIVES[size]


# ---------------------------------------------------------------------------------- fetch
def fetch(size: str, *, cache_dir: Path, base_url: str | None = None, checksum: str | None = None,
          deadline_s: float | None = None, stall_s: float | None = None) -> Path:
    """Download, verify and extract one archive into ``cache_dir``; return the dataset folder.

    Parameters
    ----------
    size : str
        A key of `ARCHIVES`.
    cache_dir : Path
        An existing folder. A folder extracted there by an earlier call is returned without
        network, even when ``cache_dir`` is read-only.
    base_url : str, optional
        Where the archives are served (http://, https:// or file://); default `BASE_URL`.
    checksum : str, optional
        Hex MD5 or SHA-256 the archive must have, or ``"md5-file"`` for GroupLens' published
        ``<archive>.md5``; default the SHA-256 pinned in `ARCHIVES`.
    deadline_s : float, optional
        Seconds one download may take in all; default ``$RECLAB_DOWNLOAD_DEADLINE_S``, else
        `DEADLINE_S` (3 h). ``math.inf`` for no deadline.
    stall_s : float, optional
        A download that receives under `MIN_RATE` bytes/s on average over ``stall_s`` seconds (or
        nothing at all for that long) is ended; default ``$RECLAB_DOWNLOAD_STALL_S``, else `STALL_S`.

    Examples
    --------
    >>> folder = fetch("1m", cache_dir=Path("~/.cache/reclab").expanduser())  # doctest: +SKIP
    >>> folder.name                                                           # doctest: +SKIP
    'ml-1m'
    """
    spec = _archive(size)
    cache_dir = _cache_dir(cache_dir)
    folder = cache_dir / spec.folder
    if (folder / MARKER).is_file():
        return folder
    if folder.exists() or folder.is_symlink():
        raise _foreign(folder)
    limits = _Limits(_seconds(deadline_s, "deadline_s", DEADLINE_ENV, DEADLINE_S),
                     _seconds(stall_s, "stall_s", STALL_ENV, STALL_S))
    base = _base_url(base_url)
    url = base + ("" if base.endswith("/") else "/") + spec.file
    archive = cache_dir / spec.file
    if archive.exists() and not archive.is_file():
        raise ValueError(f"{archive} exists but is not a file, so the archive cannot be kept there; "
                         "move it away or pass another cache_dir=.")
    _check_writable(cache_dir)
    expected = _expected(checksum or spec.sha256, url, archive, limits)
    if archive.is_file():  # placed by hand, or kept from an earlier call: verified all the same
        got = _hash_file(archive, expected)
        if got != expected:
            raise ValueError(
                f"checksum mismatch for {archive} (found in the cache folder): {_mismatch(got, expected)}. "
                "reclab did not change or delete the file. If it is a partial or damaged copy, delete "
                f"or move it yourself and load again to download a fresh one. {_republished()}")
    else:
        _download(url, archive, expected, limits)
    _extract(archive, spec.folder)
    return folder


def _cache_dir(cache_dir) -> Path:
    if isinstance(cache_dir, bool) or not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir={cache_dir!r} is not a path; pass a folder as str or Path.")
    folder = Path(cache_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"cache_dir={str(cache_dir)!r} is a file, not a folder; pass a folder "
                                 "(or set $RECLAB_DATA to one).")
    if not folder.is_dir():
        raise FileNotFoundError(f"cache_dir={str(cache_dir)!r} is not an existing folder; create it "
                                f"(mkdir -p {cache_dir}) or pass another one.")
    return folder


def _foreign(folder: Path) -> Exception:
    """The error for a dataset path that is there but was not written by reclab."""
    if folder.is_dir():
        entries = sorted(p.name for p in folder.iterdir())
        held = (f"it holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}: "
                f"{', '.join(entries[:5])}{', ...' if len(entries) > 5 else ''}" if entries else "it is empty")
        what = f"is a folder reclab did not write (it has no {MARKER} marker; {held})"
    else:
        what = "is a file, not a dataset folder reclab wrote"
    return FileExistsError(
        f"{folder} {what}. reclab deletes nothing it did not write: move or rename it (or delete it "
        "yourself if it is a leftover you do not need), or pass another cache_dir=, then load again.")


def _check_writable(folder: Path) -> None:
    """Fail before any download when ``folder`` cannot take the archive and its extraction."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".reclab-write-test.", dir=folder)
    except OSError as error:
        raise PermissionError(
            f"cache_dir={str(folder)!r} is not writable ({error.strerror or error}); the download "
            "needs a folder it can write to. Pass another cache_dir=, set $RECLAB_DATA to a writable "
            "folder, or make this one writable (chmod u+w).") from error
    os.close(fd)
    os.unlink(probe)  # our own probe file


def _seconds(value, name: str, env: str, default: float) -> float:
    origin = name
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"${env}={raw!r} is not a number of seconds; set it to e.g. {default:g} "
                             "or unset it for the default.") from None
        origin = f"${env}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} is not a number of seconds; pass e.g. {name}={default:g}.")
    if not value > 0:  # NaN fails this too
        raise ValueError(f"{origin}={value!r} must be a positive number of seconds (math.inf for no "
                         f"limit); pass e.g. {name}={default:g}.")
    return float(value)


def _base_url(base_url: str | None) -> str:
    if base_url is None:
        return BASE_URL
    if not isinstance(base_url, str):
        raise TypeError(f"base_url={base_url!r} is not a string; pass e.g. 'https://host/path/'.")
    parts = urllib.parse.urlsplit(base_url)
    scheme = parts.scheme.lower()
    # "host:8000/x" parses with scheme "host" and "C:\\data" with scheme "c": neither is a URL
    if not scheme or len(scheme) == 1 or (scheme not in SCHEMES and "://" not in base_url):
        raise ValueError(f"base_url={base_url!r} has no scheme, so it is not a URL; write it as "
                         "http://host/path/, https://host/path/ or file:///path/.")
    if scheme not in SCHEMES:
        raise ValueError(f"base_url={base_url!r} uses the scheme {parts.scheme!r}; reclab downloads "
                         f"over {', '.join(s + '://' for s in SCHEMES)} only.")
    if scheme != "file" and not parts.hostname:
        raise ValueError(f"base_url={base_url!r} names no host; write it as {parts.scheme}://host/path/.")
    return base_url


@dataclass(frozen=True)
class _Limits:
    deadline_s: float
    stall_s: float

    @property
    def socket_s(self) -> float:
        """How long one blocking socket call may wait: a stall window, or the deadline if sooner.

        A socket that timed out cannot be read again, so one silent window ends the download."""
        wait = min(self.stall_s, self.deadline_s)
        return None if math.isinf(wait) else wait


class _Transfer:
    """Reads one response in chunks, ending it on the deadline, a stall or too many bytes."""

    def __init__(self, url: str, limits: _Limits, cap: int, advice: str):
        self.url, self.limits, self.cap, self.advice = url, limits, cap, advice
        self.start = time.monotonic()
        self.received, self.total = 0, None
        self.window = (self.start, 0)  # (time, bytes received) when the current stall window opened

    def _so_far(self, now: float) -> str:
        total = f" of {self.total:,}" if self.total is not None else ""
        return f"{self.received:,}{total} bytes in {now - self.start:.1f} s"

    def chunks(self, response):
        """Yield the body; a dropped connection, a short body or a stall is a `DownloadError`."""
        read = getattr(response, "read1", response.read)  # read1: what has arrived, without waiting for CHUNK
        while True:
            try:
                chunk = read(CHUNK)
            except TimeoutError as error:
                now = time.monotonic()
                self._check(now)
                raise DownloadTimeout(
                    f"download of {self.url} stalled: nothing arrived for {self.limits.socket_s:g} s "
                    f"after {self._so_far(now)}. {self.advice}") from error
            except (OSError, http.client.HTTPException) as error:  # the connection dropped mid-transfer
                raise self._broke_off(repr(error)) from error
            now = time.monotonic()
            if not chunk:
                # http.client ends a short body without complaint when the connection drops early
                if self.total is not None and self.received != self.total:
                    raise self._broke_off("the server closed the connection early")
                return
            self.received += len(chunk)
            if self.received > self.cap:
                raise DownloadError(f"{self.url} sent more than {self.cap:,} bytes, more than any "
                                    f"MovieLens file; stopped and discarded. Check base_url.")
            self._check(now)
            yield chunk

    def _broke_off(self, why: str) -> DownloadError:
        total = "?" if self.total is None else f"{self.total:,}"
        return DownloadError(f"download of {self.url} broke off after {self.received:,} of {total} "
                             f"bytes ({why}); the partial download was discarded. Load again to retry. "
                             f"{self.advice}")

    def _check(self, now: float) -> None:
        deadline, stall = self.limits.deadline_s, self.limits.stall_s
        if now - self.start > deadline:
            raise DownloadTimeout(
                f"download of {self.url} passed its deadline of {deadline:g} s with {self._so_far(now)}. "
                f"Load again on a faster connection, or raise deadline_s= (or ${DEADLINE_ENV}). {self.advice}")
        opened, before = self.window
        if now - opened >= stall:
            rate = (self.received - before) / (now - opened)
            if rate < MIN_RATE:
                raise DownloadTimeout(
                    f"download of {self.url} stalled: {self.received - before:,} bytes in the last "
                    f"{now - opened:.1f} s ({rate:,.0f} B/s, below {MIN_RATE:,} B/s), {self._so_far(now)} "
                    f"in all. The server or the network is too slow; load again later, or raise "
                    f"stall_s= (or ${STALL_ENV}). {self.advice}")
            self.window = (now, self.received)


def _place_yourself(archive: Path) -> str:
    return f"You can also place {archive.name} in {archive.parent} yourself."


def _expected(checksum: str, url: str, archive: Path, limits: _Limits) -> str:
    if checksum == MD5_FILE:
        md5_url = url + ".md5"
        advice = (f"Pass the archive's hex MD5 or SHA-256 as checksum=, or leave checksum unset to "
                  f"check the SHA-256 pinned in reclab.")
        try:
            transfer = _Transfer(md5_url, limits, 1 << 16, advice)
            with _open(md5_url, archive, limits, advice) as response:
                published = b"".join(transfer.chunks(response)).decode("ascii", "replace")
        except DownloadError as error:
            if archive.is_file():
                raise DownloadError(
                    f"{archive} is in the cache, but checksum={MD5_FILE!r} must fetch {md5_url} to "
                    f"verify it, and that failed: {error.args[0].split('. ')[0]}. To use the cached "
                    "archive without network, pass its hex MD5 (the one in the .md5 file) as "
                    "checksum=, or leave checksum unset to check the SHA-256 pinned in reclab.") from error
            raise
        found = re.search(r"\b[0-9a-fA-F]{32}\b", published)
        if found is None:
            raise ValueError(f"{md5_url} holds no MD5 digest ({published[:80]!r}); pass checksum= yourself.")
        return found.group(0).lower()
    if not isinstance(checksum, str) or not re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", checksum):
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


def _mismatch(got: str, expected: str) -> str:
    return f"expected {'MD5' if len(expected) == 32 else 'SHA-256'} {expected}, got {got}"


def _republished() -> str:
    return (f"If GroupLens has republished the archive, pass checksum={MD5_FILE!r} to check its "
            "published .md5 instead.")


def _urlopen_within(url: str, seconds: float | None):
    """`urlopen`, given at most ``seconds`` in all to connect and receive the response headers.

    The socket timeout bounds each read, not their sum: a server that trickles its headers a byte
    at a time would hold `urlopen` forever. So it runs in a daemon thread that is abandoned (and
    its response closed whenever it does return) once the time is up.
    """
    if seconds is None:
        return urllib.request.urlopen(url)
    result: dict = {}
    done = threading.Event()

    def run():
        try:
            result["response"] = urllib.request.urlopen(url, timeout=seconds)
        except BaseException as error:  # handed to the caller below
            result["error"] = error
        done.set()
        if result.get("late"):  # the caller gave up: nobody will read or close it
            if "response" in result:
                result["response"].close()

    threading.Thread(target=run, daemon=True, name="reclab-urlopen").start()
    if not done.wait(seconds + 1.0):
        result["late"] = True
        if done.is_set() and "response" in result:  # finished just now, after all
            result["response"].close()
        raise urllib.error.URLError(TimeoutError(f"the server did not finish answering within {seconds:g} s "
                                                 "(its response headers were still arriving)"))
    if "error" in result:
        raise result["error"]
    return result["response"]


def _open(url: str, archive: Path, limits: _Limits, advice: str | None = None):
    """`urlopen` whose failures say what happened and what to do about it."""
    advice = advice or (f"Without network, for ml-100k install the offline copy: {RECBOLE_HINT}, "
                        f"or place {archive.name} in {archive.parent} yourself.")
    try:
        return _urlopen_within(url, limits.socket_s)
    except urllib.error.HTTPError as error:
        error.close()
        if 300 <= error.code < 400:
            raise DownloadError(f"could not download {url}: the server redirects in a loop or too often "
                                f"(HTTP {error.code} {error.reason}). Check base_url. {advice}") from error
        raise DownloadError(f"could not download {url}: the server answered HTTP {error.code} "
                            f"{error.reason}. Check base_url. {advice}") from error
    except (TimeoutError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        if url.startswith("file:"):
            raise DownloadError(f"could not read {url}: {reason}. Check base_url. {advice}") from error
        if isinstance(reason, TimeoutError):
            detail = "" if not str(reason) or str(reason) == "timed out" else f" ({reason})"
            raise DownloadTimeout(f"could not download {url}: no answer within {limits.socket_s:g} s{detail}. "
                                  f"The server is unreachable or too slow; load again later or raise "
                                  f"stall_s=. {advice}") from error
        raise DownloadError(f"could not download {url}: {reason}. You are offline or the server is "
                            f"unreachable; check your connection and base_url. {advice}") from error
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"could not download {url}: {error!r}. The server closed or reset the "
                            f"connection before answering; check base_url and load again. {advice}") from error


def _download(url: str, archive: Path, expected: str, limits: _Limits) -> None:
    """Stream ``url`` into a ``.part`` file, verify it, then rename it to ``archive`` atomically."""
    advice = _place_yourself(archive)
    transfer = _Transfer(url, limits, MAX_ARCHIVE_BYTES, advice)
    fd, part = tempfile.mkstemp(prefix=f"{archive.name}.", suffix=".part", dir=archive.parent)
    hasher = _hasher(expected)
    try:
        with os.fdopen(fd, "wb") as out, _open(url, archive, limits) as response:
            length = response.headers.get("Content-Length", "")
            transfer.total = total = int(length) if length.isdigit() else None
            free = _free_bytes(archive.parent)
            if total is not None and total > min(MAX_ARCHIVE_BYTES, free):
                raise DownloadError(
                    f"{url} announces {total:,} bytes, more than "
                    + (f"any MovieLens archive has (limit {MAX_ARCHIVE_BYTES:,}); check base_url."
                       if total > MAX_ARCHIVE_BYTES else
                       f"the {free:,} bytes free in {archive.parent}; free disk space or pass another "
                       "cache_dir=.") + " Nothing was downloaded.")
            with tqdm(total=total, unit="B", unit_scale=True, desc=archive.name, disable=total is None) as bar:
                for chunk in transfer.chunks(response):
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise OSError(error.errno, f"could not write the download to {part} "
                                      f"({error.strerror}); the partial download was discarded. Free "
                                      f"disk space in {archive.parent} or pass another cache_dir=") from error
                    hasher.update(chunk)
                    bar.update(len(chunk))
        got = hasher.hexdigest()
        if got != expected:
            raise ValueError(
                f"checksum mismatch for {url}: {_mismatch(got, expected)}. The downloaded bytes were "
                f"discarded and nothing was saved in {archive.parent}; load again to retry. {_republished()}")
        os.replace(part, archive)
    finally:
        if os.path.exists(part):  # our own .part file: an interrupted or refused download leaves nothing
            os.unlink(part)


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _member_path(archive: Path, member: zipfile.ZipInfo, root: Path) -> Path:
    """Where ``member`` goes under ``root``; an error for any member that would land outside it."""
    path = member.filename.replace("\\", "/")
    target = root / path
    if (path.startswith("/") or re.match(r"[A-Za-z]:", path) or ".." in PurePosixPath(path).parts
            or stat.S_ISLNK(member.external_attr >> 16) or not target.resolve().is_relative_to(root)):
        raise ValueError(
            f"{archive} member {member.filename!r} is an absolute path, a '..' path or a symlink and "
            "would land outside the extraction folder; nothing was extracted. This is not a GroupLens "
            f"archive: reclab left it as it is; delete {archive} yourself and load again.")
    return target


def _check_sizes(archive: Path, members: list[zipfile.ZipInfo]) -> None:
    """Refuse an archive whose directory declares more than the disk or a sane limit can take."""
    declared = sum(m.file_size for m in members)
    for m in members:
        if m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise ValueError(
                f"{archive} member {m.filename!r} expands {m.compress_size:,} bytes into {m.file_size:,} "
                f"(ratio {m.file_size / max(m.compress_size, 1):,.0f}:1, limit {MAX_RATIO}:1): a zip bomb, "
                f"not a GroupLens archive. Nothing was extracted; reclab left {archive} as it is: delete "
                "it yourself and check base_url.")
    if declared > MAX_UNPACKED_BYTES:
        raise ValueError(
            f"{archive} declares {declared:,} bytes of contents, more than any MovieLens archive "
            f"(limit MAX_UNPACKED_BYTES = {MAX_UNPACKED_BYTES:,}). Nothing was extracted; reclab left "
            f"{archive} as it is: delete it yourself and check base_url.")
    free = _free_bytes(archive.parent)
    if declared > free:
        raise OSError(f"{archive} unpacks to {declared:,} bytes but {archive.parent} has only {free:,} "
                      "bytes free; nothing was extracted. Free disk space or pass another cache_dir=.")


def _extract(archive: Path, name: str) -> None:
    """Unpack ``archive`` into a staging folder of ours, checked, then rename it into place."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{archive} is not a readable zip ({error}); reclab left it as it is: delete "
                         "it yourself and load again.") from error
    with zf:
        members = zf.infolist()
        _check_sizes(archive, members)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".extracting", dir=archive.parent))
        try:
            _unpack(zf, archive, members, staging.resolve())
            unpacked = staging / name
            if not unpacked.is_dir():
                top = ", ".join(sorted(p.name for p in staging.iterdir())) or "nothing"
                raise ValueError(f"{archive} holds no {name}/ folder (its top level: {top}), so it is not "
                                 "the GroupLens archive; reclab left it as it is: delete it yourself and "
                                 "load again to re-download.")
            (unpacked / MARKER).write_text(f"extracted from {archive.name}\n")
            _publish(unpacked, archive.parent / name)
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as error:
            raise ValueError(f"{archive} is not a readable zip ({error}); nothing was extracted and "
                             "reclab left it as it is: delete it yourself and load again.") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # our own staging folder


def _unpack(zf: zipfile.ZipFile, archive: Path, members: list[zipfile.ZipInfo], root: Path) -> None:
    """Write every member under ``root``, counting the bytes against the declared sizes."""
    targets = [_member_path(archive, m, root) for m in members]  # all checked before any write
    written = 0
    for member, target in zip(members, targets):
        if member.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        mine = 0
        with zf.open(member) as source, open(target, "wb") as out:
            # zipfile stops at the declared size today; count anyway, declared sizes can lie
            while chunk := source.read(CHUNK):
                mine, written = mine + len(chunk), written + len(chunk)
                if mine > member.file_size or written > MAX_UNPACKED_BYTES:
                    raise ValueError(
                        f"{archive} member {member.filename!r} expands past its declared "
                        f"{member.file_size:,} bytes: the archive lies about its sizes. Extraction was "
                        f"stopped and nothing was extracted; reclab left {archive} as it is: delete it yourself.")
                out.write(chunk)


def _publish(unpacked: Path, final: Path) -> None:
    """Rename the marked folder into place, unless a concurrent call already did."""
    if (final / MARKER).is_file():
        return
    if final.exists() or final.is_symlink():
        raise _foreign(final)
    try:
        os.rename(unpacked, final)  # fails on a non-empty folder: never replaces one
    except OSError:
        if (final / MARKER).is_file():  # a concurrent call won the race; its folder is the same
            return
        raise


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
    """Read a (large) ratings file with pandas' C engine; index = line numbers, path in ``attrs``.

    Only an empty field is missing; "nan", "NA" and the like stay text, so `_numbers` names them.
    """
    path = _file(folder, name)
    try:
        with warnings.catch_warnings():  # pandas only warns when every row has surplus fields
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(path, index_col=False, header=header, keep_default_na=False,
                                na_values=[""], **kwargs)
    except pd.errors.EmptyDataError:
        _fail(path, "is empty: it holds no ratings")
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as error:
        _fail(path, f"cannot be parsed ({error})")
    if table.empty:
        _fail(path, "is empty: it holds no ratings" if header is None
              else f"holds a header ({', '.join(map(str, table.columns))}) and no ratings")
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
    if not records:
        _fail(path, "holds no rows")
    frame = pd.DataFrame(records, columns=names, index=numbers, dtype=str)
    frame.attrs["path"] = path
    return frame


def _numbers(table: pd.DataFrame, column: str, integer: bool = True) -> np.ndarray:
    """One column as int64 (or float64); an empty, non-numeric, non-finite or (for integers)
    fractional or out-of-int64 cell is an error naming the file, its line and how many rows share it."""
    series = table[column]
    values = (series if series.dtype.kind in "iuf" else pd.to_numeric(series, errors="coerce")).to_numpy()
    if values.dtype.kind == "u":
        bad = values > np.iinfo(np.int64).max
    elif values.dtype.kind == "i":
        bad = np.zeros(len(values), bool)
    else:
        values = values.astype(np.float64)
        bad = ~np.isfinite(values)
        if integer:
            with np.errstate(invalid="ignore"):
                bad |= (values % 1 != 0) | (values < -(2.0 ** 63)) | (values >= 2.0 ** 63)
    if bad.any():
        i = int(np.argmax(bad))
        raw, value, kind = series.iloc[i], values[i], values.dtype.kind
        if pd.isna(raw) or raw == "":
            what = "is empty: the row is truncated"
        elif kind == "f" and np.isnan(value):
            what = f"holds '{raw}', not a number"
        elif kind == "f" and np.isinf(value):
            what = f"holds '{raw}', not a finite number"
        elif integer and (kind == "u" or abs(value) >= 2.0 ** 63):
            what = f"holds '{raw}', too large for a 64-bit integer"
        else:
            what = f"holds '{raw}', not an integer"
        n_bad = int(bad.sum())
        _fail(table.attrs["path"], f"line {series.index[i]}: column {column!r} {what} "
                                   f"({n_bad:,} bad row{'s' if n_bad > 1 else ''} in this column)")
    return values.astype(np.int64 if integer else np.float64)


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
