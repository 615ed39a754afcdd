"""Fault tests for `reclab.data.grouplens` (issue #9, the download half), with the real mechanisms.

Loopback HTTP servers that trickle, stall, reset the connection, lie about Content-Length, redirect
in a loop or serve a zip bomb; archives and folders written here by the tests. Every expectation is
written by hand below. Deadlines and stall windows are small (seconds), so the file stays fast, and
every server loop is bounded so that nothing can hang.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import math
import os
import socket
import struct
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from reclab.data import grouplens
from reclab.data.movielens import load_movielens

ML1M = {  # a tiny ml-1m in GroupLens' format
    "ratings.dat": "1::1193::5::978300760\n2::661::3::978302109\n",
    "movies.dat": "661::James and the Giant Peach (1996)::Animation\n1193::Cuckoo's Nest (1975)::Drama\n",
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
}


def zip_bytes(members: dict[str, bytes | str], compression=zipfile.ZIP_DEFLATED) -> bytes:
    path = Path(tempfile.mkdtemp()) / "a.zip"
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    data = path.read_bytes()
    path.unlink()
    path.parent.rmdir()
    return data


ARCHIVE = zip_bytes({f"ml-1m/{k}": v for k, v in ML1M.items()})
DIGEST = hashlib.sha256(ARCHIVE).hexdigest()


# ------------------------------------------------------------------------------- local server
class Handler(http.server.BaseHTTPRequestHandler):
    """``/<mode>/<name>`` serves ``server.files[name]`` the way ``mode`` says (see each branch)."""

    def do_GET(self):
        mode, _, name = self.path.lstrip("/").partition("/")
        self.server.hits.append(self.path)
        if mode == "loop":  # redirects to itself, forever
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "silent":  # accepts the request and never answers (for at most 5 s)
            time.sleep(5)
            return
        if mode == "slowheaders":  # a status line, then header bytes one every 50 ms (for at most 5 s)
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for byte in b"X-Padding: " + b"y" * 100:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
            return
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        if mode == "together":  # waits until a second request arrives, so both downloads overlap
            self.server.barrier.wait(timeout=5)
        self.send_response(200)
        if mode not in ("endless",):
            length = {"long": len(body) + 100, "shortlen": len(body) - 10}.get(mode, len(body))
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if mode == "trickle":  # one byte every 50 ms, at most 5 s
            for byte in body[:100]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        elif mode == "steady":  # 4 kB every 50 ms (80 kB/s, well above MIN_RATE), at most 5 s
            for start in range(0, min(len(body), 400_000), 4096):
                self.wfile.write(body[start:start + 4096])
                self.wfile.flush()
                time.sleep(0.05)
        elif mode == "reset":  # half the body, then a TCP reset
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif mode == "endless":  # no Content-Length and more bytes than any archive (bounded here)
            for _ in range(64):
                self.wfile.write(b"x" * 65536)
        else:  # ok, long (promises 100 bytes more), shortlen (promises 10 bytes fewer), together
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(loopback):
    httpd = http.server.ThreadingHTTPServer((loopback, 0), Handler)
    httpd.handle_error = lambda request, address: None  # keep deliberate failures out of the output
    httpd.files, httpd.hits, httpd.barrier = {"ml-1m.zip": ARCHIVE}, [], threading.Barrier(2)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    httpd.url = lambda mode="ok": f"http://{loopback}:{httpd.server_address[1]}/{mode}/"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir())


def contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir() if p.name != grouplens.MARKER}


# ------------------------------------------------------------------ 1. nothing of the user's is deleted
@pytest.mark.parametrize("kind", ["files", "empty folder", "file"])
def test_users_own_dataset_folder_is_kept_and_named(kind, server, cache):
    target = cache / "ml-1m"
    if kind == "file":
        target.write_text("my notes")
    else:
        target.mkdir()
        if kind == "files":
            (target / "ratings.dat").write_text("my own ratings")
            (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError) as caught:
        load_movielens("1m", source="download", cache_dir=cache, base_url=server.url(), checksum=DIGEST)
    message = str(caught.value)
    assert str(target) in message and "deletes nothing it did not write" in message
    assert "move or rename it" in message and "cache_dir=" in message
    if kind == "files":
        assert "2 entries: notes.txt, ratings.dat" in message
        assert contents(target) == {"ratings.dat": "my own ratings", "notes.txt": "keep me"}
    elif kind == "file":
        assert target.read_text() == "my notes"
    else:
        assert "it is empty" in message and target.is_dir() and not any(target.iterdir())
    assert leftovers(cache) == ["ml-1m"] and server.hits == []  # refused before any download


def test_users_archive_with_another_checksum_is_left_untouched(cache):
    mine = cache / "ml-latest-small.zip"
    mine.write_bytes(b"my own archive, not GroupLens' one")
    with pytest.raises(ValueError) as caught:
        grouplens.fetch("latest-small", cache_dir=cache)  # pinned checksum; no network is needed
    message = str(caught.value)
    assert f"checksum mismatch for {mine}" in message
    assert "did not change or delete the file" in message and "was deleted" not in message
    assert mine.read_bytes() == b"my own archive, not GroupLens' one"
    assert leftovers(cache) == ["ml-latest-small.zip"]


def test_failed_download_removes_only_its_own_part_file(server, cache):
    (cache / "notes.txt").write_text("mine")
    with pytest.raises(ValueError) as caught:
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url(), checksum="0" * 64)
    assert "downloaded bytes were discarded" in str(caught.value) and "was deleted" not in str(caught.value)
    assert leftovers(cache) == ["notes.txt"] and (cache / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------ 2. downloads end
def test_trickling_server_is_ended_by_the_stall_detector(server, cache):
    start = time.monotonic()
    with pytest.raises(grouplens.DownloadTimeout) as caught:
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url("trickle"), checksum=DIGEST,
                        deadline_s=4, stall_s=0.5)
    elapsed = time.monotonic() - start
    assert elapsed < 2.5  # the server would trickle for 5 s
    message = str(caught.value)
    assert "stalled" in message and "below 1,024 B/s" in message and "stall_s=" in message
    assert f"of {len(ARCHIVE):,} bytes in" in message
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, ConnectionError)
    assert leftovers(cache) == []


def test_stall_window_from_the_environment_and_load_movielens(server, cache, monkeypatch):
    monkeypatch.setenv(grouplens.STALL_ENV, "0.4")
    start = time.monotonic()
    with pytest.raises(grouplens.DownloadTimeout, match="stalled"):
        load_movielens("1m", source="download", cache_dir=cache, base_url=server.url("trickle"),
                       checksum=DIGEST, deadline_s=4)
    assert time.monotonic() - start < 2.5


def test_server_that_trickles_its_headers_is_ended(server, cache):
    # every header byte comes within the stall window, so no single socket read times out
    start = time.monotonic()
    with pytest.raises(grouplens.DownloadTimeout, match=r"no answer within 0\.5 s \(the server did not finish answering within 0\.5 s"):
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url("slowheaders"), checksum=DIGEST,
                        deadline_s=4, stall_s=0.5)
    assert time.monotonic() - start < 2.0  # the server would trickle for 5 s
    assert leftovers(cache) == []


def test_steady_but_slow_download_is_ended_by_the_deadline(server, cache):
    server.files["ml-1m.zip"] = ARCHIVE + b"\0" * 400_000  # 400 kB at 80 kB/s: 5 s
    start = time.monotonic()
    with pytest.raises(grouplens.DownloadTimeout) as caught:
        load_movielens("1m", source="download", cache_dir=cache, base_url=server.url("steady"),
                       checksum=DIGEST, deadline_s=1, stall_s=0.3)
    assert time.monotonic() - start < 2.5
    message = str(caught.value)
    assert "passed its deadline of 1 s" in message and "deadline_s=" in message
    received = int(message.split("deadline of 1 s with ")[1].split(" of ")[0].replace(",", ""))
    assert 20_000 < received < 400_000  # it was making progress: not a stall
    assert leftovers(cache) == []


def test_server_that_never_answers_is_ended(server, cache):
    start = time.monotonic()
    with pytest.raises(grouplens.DownloadTimeout, match=r"no answer within 0\.5 s"):
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url("silent"), checksum=DIGEST, stall_s=0.5)
    assert time.monotonic() - start < 2.5
    assert leftovers(cache) == []


def test_no_limits_at_all_still_downloads(server, cache):
    folder = grouplens.fetch("1m", cache_dir=cache, base_url=server.url(), checksum=DIGEST,
                             deadline_s=math.inf, stall_s=math.inf)
    assert contents(folder) == ML1M


@pytest.mark.parametrize("kwargs, error, needle", [
    ({"deadline_s": "soon"}, TypeError, "deadline_s='soon' is not a number of seconds"),
    ({"deadline_s": True}, TypeError, "deadline_s=True is not a number"),
    ({"stall_s": -1}, ValueError, "stall_s=-1 must be a positive number of seconds"),
    ({"deadline_s": math.nan}, ValueError, "deadline_s=nan must be a positive"),
])
def test_bad_limits_are_named(kwargs, error, needle, cache):
    with pytest.raises(error, match=needle):
        grouplens.fetch("1m", cache_dir=cache, checksum=DIGEST, **kwargs)
    assert leftovers(cache) == []


def test_bad_limit_in_the_environment_is_named(cache, monkeypatch):
    monkeypatch.setenv(grouplens.DEADLINE_ENV, "an hour")
    with pytest.raises(ValueError, match=r"\$RECLAB_DOWNLOAD_DEADLINE_S='an hour' is not a number"):
        grouplens.fetch("1m", cache_dir=cache, checksum=DIGEST)


def test_zip_bomb_is_refused_before_extraction(server, cache):
    bomb = zip_bytes({"ml-1m/ratings.dat": b"\0" * (16 << 20), "ml-1m/movies.dat": ML1M["movies.dat"]})
    assert len(bomb) < (16 << 20) // 500  # the test's own bomb: over 500:1
    server.files["ml-1m.zip"] = bomb
    server.files["ml-1m.zip.md5"] = f"{hashlib.md5(bomb).hexdigest()}  ml-1m.zip\n".encode()
    with pytest.raises(ValueError) as caught:
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url(), checksum="md5-file")
    message = str(caught.value)
    assert "'ml-1m/ratings.dat' expands" in message and f"into {16 << 20:,}" in message
    assert "zip bomb" in message and "Nothing was extracted" in message
    assert leftovers(cache) == ["ml-1m.zip"]  # the archive is kept for inspection; no folder, no staging


def test_archive_declaring_too_much_in_all_is_refused(cache, monkeypatch):
    monkeypatch.setattr(grouplens, "MAX_UNPACKED_BYTES", 100)  # the fixture's three files: 218 bytes
    (cache / "ml-1m.zip").write_bytes(ARCHIVE)
    declared = sum(len(v) for v in ML1M.values())
    with pytest.raises(ValueError, match=f"declares {declared:,} bytes of contents"):
        grouplens.fetch("1m", cache_dir=cache, checksum=DIGEST)
    assert leftovers(cache) == ["ml-1m.zip"]


def lying_zip(declared: int) -> bytes:
    """ml-1m with a ratings.dat of 2 MiB whose local and central headers declare ``declared`` bytes."""
    real = b"1::1193::5::978300760\n" * 95_326  # 2 MiB, compresses ~100:1
    data = bytearray(zip_bytes({"ml-1m/ratings.dat": real, "ml-1m/movies.dat": ML1M["movies.dat"],
                                "ml-1m/users.dat": ML1M["users.dat"]}))
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    assert struct.unpack_from("<I", data, local + 22)[0] == len(real)  # the first member is ratings.dat
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


def test_archive_lying_about_its_sizes_is_refused(cache):
    body = lying_zip(declared=1000)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:  # the lie is in the directory
        assert zf.getinfo("ml-1m/ratings.dat").file_size == 1000
    (cache / "ml-1m.zip").write_bytes(body)
    with pytest.raises(ValueError) as caught:
        grouplens.fetch("1m", cache_dir=cache, checksum=hashlib.sha256(body).hexdigest())
    assert f"{cache / 'ml-1m.zip'}" in str(caught.value) and "nothing was extracted" in str(caught.value).lower()
    assert leftovers(cache) == ["ml-1m.zip"]


def test_archive_larger_than_the_free_space_is_refused(cache, monkeypatch):
    (cache / "ml-1m.zip").write_bytes(ARCHIVE)
    monkeypatch.setattr(grouplens, "_free_bytes", lambda folder: 100)
    with pytest.raises(OSError, match="has only 100 bytes free"):
        grouplens.fetch("1m", cache_dir=cache, checksum=DIGEST)
    assert leftovers(cache) == ["ml-1m.zip"]


# ------------------------------------------------------------------ 3. empty and non-finite files
def write_folder(where: Path, files: dict) -> Path:
    where.mkdir()
    for name, body in files.items():
        (where / name).write_text(body)
    return where


CSV_MOVIES = "movieId,title,genres\n1,Toy Story (1995),Animation\n3,Heat (1995),Action\n"
HEADER = "userId,movieId,rating,timestamp\n"


@pytest.mark.parametrize("ratings, needle", [
    (HEADER, "ratings.csv: holds a header (userId, movieId, rating, timestamp) and no ratings"),
    ("", "ratings.csv: is empty: it holds no ratings"),
    (HEADER + "1,1,4.0,964982703\n1,3,inf,964981247\n",
     "line 3: column 'rating' holds 'inf', not a finite number (1 bad row"),
    (HEADER + "1,1,4.0,inf\n1,3,4.0,-inf\n",
     "line 2: column 'timestamp' holds 'inf', not a finite number (2 bad rows"),
    (HEADER + "nan,1,4.0,964982703\nNaN,3,4.0,964981247\n",
     "line 2: column 'user_id' holds 'nan', not a number (2 bad rows"),
    (HEADER + "1,1,4.0,NA\n", "line 2: column 'timestamp' holds 'NA', not a number (1 bad row"),
    (HEADER + "1,1e30,4.0,964982703\n", "line 2: column 'item_id' holds '1e+30', too large for a 64-bit integer"),
    (HEADER + "99999999999999999999,1,4.0,964982703\n", "column 'user_id' holds '99999999999999999999', too large"),
    (HEADER + "1,1,,964982703\n", "line 2: column 'rating' is empty: the row is truncated (1 bad row"),
])
def test_bad_ratings_csv_names_file_column_and_count(ratings, needle, tmp_path):
    folder = write_folder(tmp_path / "ml-latest-small", {"ratings.csv": ratings, "movies.csv": CSV_MOVIES})
    with pytest.raises(ValueError) as caught:
        grouplens.read("latest-small", folder)
    assert needle in str(caught.value) and str(folder / "ratings.csv") in str(caught.value)


@pytest.mark.parametrize("file, body, needle", [
    ("ratings.dat", "1::1193::5::978300760\n2::661::3::nan\n", "line 2: column 'timestamp' holds 'nan', not a number"),
    ("ratings.dat", "", "ratings.dat: is empty: it holds no ratings"),
    ("movies.dat", "\n", "movies.dat: holds no rows"),
])
def test_bad_dat_files_name_file_and_column(file, body, needle, tmp_path):
    folder = write_folder(tmp_path / "ml-1m", {**ML1M, file: body})
    with pytest.raises(ValueError, match=needle):
        grouplens.read("1m", folder)


# ------------------------------------------------------------------ 7. clear errors elsewhere
@contextlib.contextmanager
def unprivileged():
    """Drop the effective uid while inside (root writes anywhere, so a 0o555 folder is only read-only
    for somebody else); a no-op for a normal user."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def readonly_cache():
    """A 0o555 folder in a fresh /tmp folder that an unprivileged user can reach."""
    base = Path(tempfile.mkdtemp(prefix="reclab-ro-"))
    base.chmod(0o755)
    folder = base / "cache"
    folder.mkdir()
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    for path in sorted(base.rglob("*"), reverse=True):  # all written by this fixture and its test
        path.rmdir() if path.is_dir() else path.unlink()
    base.rmdir()


def test_readonly_cache_is_named_before_any_download(readonly_cache, server):
    readonly_cache.chmod(0o555)
    with unprivileged(), pytest.raises(PermissionError) as caught:
        grouplens.fetch("1m", cache_dir=readonly_cache, base_url=server.url(), checksum=DIGEST)
    message = str(caught.value)
    assert f"cache_dir={str(readonly_cache)!r} is not writable" in message
    assert "another cache_dir=" in message and "$RECLAB_DATA" in message
    assert server.hits == [] and leftovers(readonly_cache) == []


def test_readonly_cache_with_a_finished_dataset_still_loads(readonly_cache, tmp_path):
    source = tmp_path / "srv"
    source.mkdir()
    (source / "ml-1m.zip").write_bytes(ARCHIVE)
    grouplens.fetch("1m", cache_dir=readonly_cache, base_url=source.as_uri() + "/", checksum=DIGEST)
    readonly_cache.chmod(0o555)
    with unprivileged():
        folder = grouplens.fetch("1m", cache_dir=readonly_cache, base_url="http://127.0.0.1:9/", checksum=DIGEST)
    assert contents(folder) == ML1M


@pytest.mark.parametrize("base_url", ["files.grouplens.org/datasets/movielens/", "localhost:8000/ml/",
                                      "C:\\data\\movielens\\", "/srv/movielens/"])
def test_base_url_without_a_scheme_says_so(base_url, cache):
    with pytest.raises(ValueError) as caught:
        grouplens.fetch("1m", cache_dir=cache, base_url=base_url, checksum=DIGEST)
    message = str(caught.value)
    assert f"base_url={base_url!r} has no scheme" in message and "http://host/path/" in message
    assert "file:///path/" in message and "offline" not in message


def test_single_slash_file_url_is_a_url(tmp_path, cache):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "ml-1m.zip").write_bytes(ARCHIVE)
    folder = grouplens.fetch("1m", cache_dir=cache, base_url=f"file:{tmp_path / 'srv'}/", checksum=DIGEST)
    assert contents(folder) == ML1M


def test_base_url_with_an_unsupported_scheme_or_no_host(cache):
    with pytest.raises(ValueError, match=r"uses the scheme 'ftp'; reclab downloads over http://, https://, file://"):
        grouplens.fetch("1m", cache_dir=cache, base_url="ftp://host/ml/", checksum=DIGEST)
    with pytest.raises(ValueError, match=r"names no host; write it as http://host/path/"):
        grouplens.fetch("1m", cache_dir=cache, base_url="http:///ml/", checksum=DIGEST)


def test_md5_file_offline_with_the_archive_cached_gives_the_fix(cache, loopback):
    (cache / "ml-1m.zip").write_bytes(ARCHIVE)
    with socket.socket() as s:  # a port where nothing listens
        s.bind((loopback, 0))
        port = s.getsockname()[1]
    offline = f"http://{loopback}:{port}/"
    with pytest.raises(grouplens.DownloadError) as caught:
        grouplens.fetch("1m", cache_dir=cache, base_url=offline, checksum="md5-file")
    message = str(caught.value)
    assert (f"{cache / 'ml-1m.zip'} is in the cache, but checksum='md5-file' must fetch "
            f"{offline}ml-1m.zip.md5") in message
    assert "pass its hex MD5" in message and "leave checksum unset" in message
    md5 = hashlib.md5(ARCHIVE).hexdigest()  # the fix works offline
    folder = grouplens.fetch("1m", cache_dir=cache, base_url=offline, checksum=md5)
    assert contents(folder) == ML1M


def test_md5_file_missing_on_the_server(server, cache):
    with pytest.raises(grouplens.DownloadError) as caught:
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url(), checksum="md5-file")
    message = str(caught.value)
    assert "ml-1m.zip.md5: the server answered HTTP 404" in message
    assert "Pass the archive's hex MD5 or SHA-256 as checksum=" in message
    assert leftovers(cache) == []


@pytest.mark.parametrize("rounds", [3])
def test_two_threads_downloading_at_once_both_get_the_folder(rounds, server, tmp_path):
    for r in range(rounds):
        cache = tmp_path / f"cache{r}"
        cache.mkdir()
        server.barrier.reset()
        results: list = [None, None]

        def run(i):
            try:
                results[i] = grouplens.fetch("1m", cache_dir=cache, base_url=server.url("together"),
                                             checksum=DIGEST, deadline_s=10)
            except BaseException as error:  # noqa: BLE001  (reported by the assert below)
                results[i] = error

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        [t.start() for t in threads]
        [t.join(timeout=15) for t in threads]
        assert results == [cache / "ml-1m", cache / "ml-1m"], results
        assert contents(cache / "ml-1m") == ML1M and leftovers(cache) == ["ml-1m", "ml-1m.zip"]


def test_two_extractions_renaming_at_the_same_moment(cache, monkeypatch):
    """Both calls pass every check, then both rename: the loser must accept the winner's folder."""
    (cache / "ml-1m.zip").write_bytes(ARCHIVE)
    barrier, real_rename, renames = threading.Barrier(2, timeout=5), os.rename, []

    def rename(src, dst):
        barrier.wait()
        try:
            real_rename(src, dst)
            renames.append("won")
        except OSError:
            renames.append("lost")
            raise

    monkeypatch.setattr(grouplens.os, "rename", rename)
    results: list = [None, None]

    def run(i):
        try:
            results[i] = grouplens.fetch("1m", cache_dir=cache, checksum=DIGEST)
        except BaseException as error:  # noqa: BLE001
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join(timeout=10) for t in threads]
    assert sorted(renames) == ["lost", "won"]
    assert results == [cache / "ml-1m", cache / "ml-1m"], results
    assert contents(cache / "ml-1m") == ML1M and leftovers(cache) == ["ml-1m", "ml-1m.zip"]


# ------------------------------------------------------------------ 9. neighbouring cases
def test_cache_dir_that_is_a_file(tmp_path):
    path = tmp_path / "cache.txt"
    path.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=r"cache_dir='.*cache\.txt' is a file, not a folder"):
        grouplens.fetch("1m", cache_dir=path, checksum=DIGEST)
    with pytest.raises(NotADirectoryError, match=r"cache_dir='.*cache\.txt' is a file, not a folder"):
        load_movielens("1m", source="download", cache_dir=path, checksum=DIGEST)
    assert path.read_text() == "not a folder"


def test_archive_path_that_is_a_folder(cache):
    (cache / "ml-1m.zip").mkdir()
    with pytest.raises(ValueError, match=r"ml-1m\.zip exists but is not a file"):
        grouplens.fetch("1m", cache_dir=cache, checksum=DIGEST)
    assert (cache / "ml-1m.zip").is_dir()


def test_zip_without_the_dataset_folder(cache):
    body = zip_bytes({f"movielens/{k}": v for k, v in ML1M.items()})
    (cache / "ml-1m.zip").write_bytes(body)
    with pytest.raises(ValueError, match=r"holds no ml-1m/ folder \(its top level: movielens\)"):
        grouplens.fetch("1m", cache_dir=cache, checksum=hashlib.sha256(body).hexdigest())
    assert leftovers(cache) == ["ml-1m.zip"]  # the staging folder is gone, the archive kept


def test_missing_file_url_is_not_called_offline(tmp_path, cache):
    missing = (tmp_path / "nowhere").as_uri() + "/"
    with pytest.raises(grouplens.DownloadError) as caught:
        grouplens.fetch("1m", cache_dir=cache, base_url=missing, checksum=DIGEST)
    message = str(caught.value)
    assert f"could not read {missing}ml-1m.zip" in message and "No such file" in message
    assert "offline" not in message.split("Without network")[0] and leftovers(cache) == []


def test_redirect_loop_is_named(server, cache):
    with pytest.raises(grouplens.DownloadError, match=r"redirects in a loop or too often \(HTTP 302"):
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url("loop"), checksum=DIGEST, stall_s=2)
    assert 2 <= len(server.hits) <= 12 and leftovers(cache) == []


@pytest.mark.parametrize("mode, needle", [
    ("long", f"broke off after {len(ARCHIVE):,} of {len(ARCHIVE) + 100:,} bytes (the server closed"),
    ("reset", "ConnectionResetError"),
    ("shortlen", "checksum mismatch"),  # Content-Length 10 bytes short: only the checksum can tell
])
def test_lying_or_broken_transfers_keep_nothing(mode, needle, server, cache):
    with pytest.raises((grouplens.DownloadError, ValueError), match=needle.replace("(", r"\(")):
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url(mode), checksum=DIGEST, stall_s=2)
    assert leftovers(cache) == []


def test_endless_body_and_huge_content_length_are_capped(server, cache, monkeypatch):
    monkeypatch.setattr(grouplens, "MAX_ARCHIVE_BYTES", 1 << 20)  # the endless mode sends 4 MiB
    with pytest.raises(grouplens.DownloadError, match=r"sent more than 1,048,576 bytes"):
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url("endless"), checksum=DIGEST, stall_s=2)
    assert leftovers(cache) == []
    monkeypatch.setattr(grouplens, "MAX_ARCHIVE_BYTES", len(ARCHIVE) - 1)
    with pytest.raises(grouplens.DownloadError, match=f"announces {len(ARCHIVE):,} bytes, more than any"):
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url(), checksum=DIGEST)
    assert leftovers(cache) == []


def test_download_larger_than_the_free_space_is_refused(server, cache, monkeypatch):
    monkeypatch.setattr(grouplens, "_free_bytes", lambda folder: 100)
    with pytest.raises(grouplens.DownloadError, match=r"more than the 100 bytes free in"):
        grouplens.fetch("1m", cache_dir=cache, base_url=server.url(), checksum=DIGEST)
    assert leftovers(cache) == []

