"""Data at scale: a 20-million-row interaction log (ml-20m's shape) written, loaded and split by
leave-last-out within a laptop's memory, with Polars.

    python benchmarks/data_scale.py                  # 20,000,263 rows, as ml-20m
    python benchmarks/data_scale.py --rows 2000000   # a quicker run
    python benchmarks/data_scale.py --no-package     # skip the pandas / reclab path on all rows

Polars (a columnar, multi-threaded engine on Arrow memory) is used for the large file because
it reads Parquet column by column into compact arrays (int32 ids stay 4 bytes), and it finds
each user's two latest rows, all leave-last-out needs, in one group-by (``top_k_by``) without
Python loops or a pandas copy of the table. DuckDB would do the same in SQL (``row_number() over (partition by
user order by timestamp desc, row desc)``); Polars' frames hand numpy arrays to the package
without a copy, and its expressions read like the pandas the course already uses. At 20M rows
the engine is a choice, not a necessity: phase 4 shows that pandas with the package's own
`Interactions` and `leave_last_out` fits in memory too (one run on 2 shared cores: Polars
load + split peaked at 1.7 GiB, pandas + reclab at 1.6 GiB); Polars is what keeps
going when the log no longer fits, through ``scan_parquet`` and its streaming engine.

Each phase runs in a fresh Python process, so its peak memory (``ru_maxrss``: the most resident
memory the process ever held, Polars' native buffers included, which tracemalloc cannot see) is
its own:

1. **generate**: ml-20m's 138,493 users and 26,744 rated items (sparse raw ids), 20,000,263 rows,
   written in 10 chunks of users to Parquet; items drawn with a popularity skew (p ∝ 1/(rank +
   50), the most popular item gets ~0.3% of the ratings as in ml-20m), user activity heavy-tailed
   (20 or more rows each, except 1% of users with 1 or 2, so the split's edge cases occur),
   30% of a user's consecutive events in the same second (ties, broken by file order), and rows
   shuffled within each chunk so the file is not in time order. A user may meet an item twice.
2. **load**: the Parquet files into one frame, raw ids mapped to 0-based indices (sorted raw ids,
   as `reclab.data.Interactions.from_frames` does).
3. **split**: load, then leave-last-out labels (0 train, 1 valid, 2 test) from each user's two
   latest rows by (timestamp, file row), and the checks: every row has one label, the part
   sizes follow the user counts, each user's test row is their latest; and on a sample of users
   the three parts equal `reclab.data.leave_last_out` row for row.
4. **package** (optional): the same rows through pandas, `Interactions.from_frames` and
   `reclab.data.leave_last_out`, for comparison.

Each phase's wall time and peak memory go to ``results/data_scale.csv`` (``--out``).

The script writes only inside a temporary folder it creates, and deletes that folder at the end.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

ML20M = {"rows": 20_000_263, "users": 138_493, "items": 26_744}
ML25M = {"rows": 25_000_095, "users": 162_541, "items": 59_047}
N_CHUNKS = 10
TIME_RANGE = (789_652_009, 1_427_784_002)  # ml-20m's first and last timestamps (1995-01-09 .. 2015-03-31)
HALF_STARS = np.arange(1, 11) / 2
STAR_P = np.array([1.2, 3.4, 1.6, 7.0, 4.4, 21.4, 11.0, 27.6, 7.6, 14.4])  # ml-20m-like shares, in %


def peak_mib() -> float:
    """The most resident memory this process has held, MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------- 1. generate
def user_counts(n_rows: int, n_users: int, rng: np.random.Generator) -> np.ndarray:
    """Rows per user summing to ``n_rows``: 20 + a lognormal tail, 1% of users with 1 or 2."""
    few = rng.random(n_users) < 0.01
    base = np.where(few, rng.integers(1, 3, n_users), 20)
    tail = rng.lognormal(0.0, 1.3, n_users) * ~few
    counts = base + np.floor(tail * (n_rows - base.sum()) / tail.sum()).astype(np.int64)
    counts[np.argsort(-tail)[: n_rows - counts.sum()]] += 1  # the rounding remainder, to the most active
    assert counts.sum() == n_rows and counts.min() >= 1
    return counts


def generate(folder: Path, n_rows: int, n_users: int, n_items: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    counts = user_counts(n_rows, n_users, rng)
    item_ids = np.sort(rng.choice(131_262, n_items, replace=False) + 1).astype(np.int32)  # sparse, as movieId
    popularity = 1 / (np.arange(n_items) + 50.0)
    by_rank = rng.permutation(item_ids)  # which raw id holds each popularity rank
    cumulative = np.cumsum(popularity / popularity.sum())
    starts = rng.integers(*TIME_RANGE, n_users)
    for chunk, users in enumerate(np.array_split(np.arange(n_users), N_CHUNKS)):
        crng = np.random.default_rng([seed, chunk])
        n = counts[users]
        user = np.repeat(users, n)
        gaps = np.where(crng.random(len(user)) < 0.3, 0, crng.exponential(3 * 86_400, len(user))).astype(np.int64)
        first = np.cumsum(n) - n  # each user's first row in the chunk
        gaps[first] = 0
        clock = np.cumsum(gaps)
        timestamp = starts[user] + clock - np.repeat(clock[first], n)
        ranks = np.searchsorted(cumulative, crng.random(len(user)), side="right").clip(max=n_items - 1)
        rows = crng.permutation(len(user))  # the file is not in time order
        pl.DataFrame({
            "user_id": (user[rows] + 1).astype(np.int32),
            "item_id": by_rank[ranks[rows]],
            "rating": HALF_STARS[crng.choice(10, len(user), p=STAR_P / STAR_P.sum())[rows]].astype(np.float32),
            "timestamp": timestamp[rows],
        }).write_parquet(folder / f"part-{chunk:02d}.parquet")
    return {"bytes on disk": sum(p.stat().st_size for p in folder.glob("*.parquet"))}


# ---------------------------------------------------------------------- 2. load, 3. split
def load(folder: Path) -> pl.DataFrame:
    """The chunks in file order, with ``row`` (file order), 0-based ``user`` and ``item`` (int32)."""
    files = sorted(folder.glob("part-*.parquet"))
    return (pl.scan_parquet(files).with_row_index("row")
            .with_columns(user=(pl.col("user_id").rank("dense") - 1).cast(pl.Int32),
                          item=(pl.col("item_id").rank("dense") - 1).cast(pl.Int32))
            .collect())


def leave_last_out_labels(frame: pl.DataFrame) -> np.ndarray:
    """Per row 0 (train), 1 (valid) or 2 (test): `reclab.data.leave_last_out`'s rule, in Polars.

    Each user's two latest rows by (timestamp, file row): the latest is test if the user has 2
    rows or more, the one before valid if they have 3 or more. The pair is folded into one int64
    key, ``(timestamp - first) * rows + row``, because a top-2 per user on one integer column
    takes 6 s on ml-20m's size where ranking a (timestamp, row) struct takes 33 s.
    """
    first, n_rows = frame["timestamp"].min(), len(frame)
    assert (frame["timestamp"].max() - first + 1) * n_rows < 2**63, "the key would overflow int64"
    key = (pl.col("timestamp") - first) * n_rows + pl.col("row")
    top = (frame.lazy().with_columns(key=key).group_by("user")
           .agg(row=pl.col("row").top_k_by("key", 2), key=pl.col("key").top_k_by("key", 2), n=pl.len())
           .filter(pl.col("n") >= 2).collect())
    rows = np.stack([top["row"].list.get(i).to_numpy() for i in (0, 1)], axis=1)  # (users with ≥ 2, 2)
    keys = np.stack([top["key"].list.get(i).to_numpy() for i in (0, 1)], axis=1)
    latest = keys.argmax(axis=1)  # top_k_by does not promise an order within the two
    label = np.zeros(n_rows, np.int8)
    label[rows[np.arange(len(rows)), latest]] = 2
    has_valid = top["n"].to_numpy() >= 3
    label[rows[np.arange(len(rows)), 1 - latest][has_valid]] = 1
    return label


def check_split(frame: pl.DataFrame) -> dict:
    """Every row in one part, the part sizes right, each test row its user's latest.

    "Latest" is found another way than `leave_last_out_labels`: the user's last timestamp, then
    the last file row at that time.
    """
    counts = frame.group_by("user").len()["len"].to_numpy()
    sizes = frame.group_by("label").len().sort("label")["len"].to_list()
    assert sizes[0] + sizes[1] + sizes[2] == len(frame)
    assert sizes[2] == (counts >= 2).sum() and sizes[1] == (counts >= 3).sum(), sizes
    last_time = frame.group_by("user").agg(pl.col("timestamp").max().alias("last"))
    latest = (frame.join(last_time, on="user").filter(pl.col("timestamp") == pl.col("last"))
              .group_by("user").agg(pl.col("row").max()))
    test_rows = frame.filter(pl.col("label") == 2).select("user", "row")
    joined = latest.join(test_rows, on="user", how="inner", suffix="_test")
    assert len(joined) == sizes[2] and (joined["row"] == joined["row_test"]).all(), "a test row is not the latest"
    return {"train rows": sizes[0], "valid rows": sizes[1], "test rows": sizes[2]}


def check_against_package(frame: pl.DataFrame, n_sample: int = 3000) -> dict:
    """The sampled users' parts equal `reclab.data.leave_last_out` on the same rows, in file order."""
    import pandas as pd

    from reclab.data import Interactions, leave_last_out

    few = frame.group_by("user").len().filter(pl.col("len") <= 3)["user"].sort().head(200)  # the edge cases
    sample = frame.filter(pl.col("user").is_in(pl.concat([pl.Series(np.arange(n_sample, dtype=np.int32)), few])))
    columns = ["user_id", "item_id", "rating", "timestamp"]
    data = Interactions.from_frames(pd.DataFrame({c: sample[c].to_numpy() for c in columns}))
    split = leave_last_out(data)
    for i, part in enumerate((split.train, split.valid, split.test)):
        mine = sample.filter(pl.col("label") == i)
        r = part.ratings
        theirs = np.stack([data.user_ids[r["user"]], data.item_ids[r["item"]], r["timestamp"]])
        assert np.array_equal(np.stack([mine["user_id"], mine["item_id"], mine["timestamp"]]), theirs), i
    return {"sample users": data.n_users, "sample rows": len(data)}


def split_phase(folder: Path) -> dict:
    start = time.perf_counter()
    frame = load(folder)
    loaded = time.perf_counter()
    frame = frame.with_columns(label=pl.Series(leave_last_out_labels(frame)))
    # ru_maxrss only grows: read here, it is the peak of loading and splitting, before the checks
    out = {"load s": loaded - start, "split s": time.perf_counter() - loaded,
           "frame MiB": frame.estimated_size("mb"), "peak MiB before checks": peak_mib()}
    out |= check_split(frame)
    out |= check_against_package(frame)
    return out


def package_phase(folder: Path) -> dict:
    """The same rows through pandas and reclab (Polars only reads the Parquet files)."""
    import pandas as pd

    from reclab.data import Interactions, leave_last_out

    start = time.perf_counter()
    raw = pl.read_parquet(sorted(folder.glob("part-*.parquet")))
    ratings = pd.DataFrame({c: raw[c].to_numpy() for c in raw.columns})
    del raw
    data = Interactions.from_frames(ratings)
    del ratings
    loaded = time.perf_counter()
    split = leave_last_out(data)
    return {"from_frames s": loaded - start, "leave_last_out s": time.perf_counter() - loaded,
            "test rows": len(split.test)}


PHASES = ("generate", "load", "split", "package")


def child(phase: str, folder: Path, n_rows: int, n_users: int, n_items: int) -> None:
    """Run one phase in this (fresh) process and print its numbers as one JSON line."""
    start = time.perf_counter()
    if phase == "generate":
        out = generate(folder, n_rows, n_users, n_items)
    elif phase == "load":
        frame = load(folder)
        out = {"rows": len(frame), "users": frame["user"].max() + 1, "items": frame["item"].max() + 1,
               "frame MiB": frame.estimated_size("mb")}
    else:
        out = split_phase(folder) if phase == "split" else package_phase(folder)
    out |= {"wall s": time.perf_counter() - start, "peak MiB": peak_mib()}
    print(json.dumps({k: float(v) for k, v in out.items()}))


# ---------------------------------------------------------------------- arithmetic
def arithmetic() -> None:
    """What ml-20m and ml-25m take as columns, as a dense matrix and as a CSR matrix."""
    print("\nmemory arithmetic (1 GiB = 2**30 bytes)")
    for name, d in (("ml-20m", ML20M), ("ml-25m", ML25M)):
        rows, users, items = d["rows"], d["users"], d["items"]
        compact = rows * (4 + 4 + 4 + 8)  # int32 user, int32 item, float32 rating, int64 timestamp
        wide = rows * 4 * 8  # what pandas' read_csv gives: four 8-byte columns
        dense = users * items * 4
        csr = rows * (4 + 4) + (users + 1) * 8  # float32 values + int32 column indices + int64 row pointers
        print(f"  {name}: {rows:,} rows × 20 B (int32, int32, float32, int64) = {compact / 2**30:.2f} GiB; "
              f"× 32 B (all 8-byte) = {wide / 2**30:.2f} GiB")
        print(f"    dense {users:,} × {items:,} float32 = {dense / 2**30:.1f} GiB "
              f"(density {rows / (users * items):.2%}); CSR = {rows:,} × 8 B + {users + 1:,} × 8 B "
              f"= {csr / 2**30:.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ML20M["rows"])
    parser.add_argument("--no-package", action="store_true", help="skip the pandas / reclab path on all rows")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data_scale.csv",
                        help="the CSV of each phase's wall time and peak memory")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)  # a child process
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n_users = max(10, round(ML20M["users"] * args.rows / ML20M["rows"]))
    n_items = min(ML20M["items"], max(10, n_users // 5))
    if args.rows < 100_000:  # below that the 3,000 users of the sample check are most of the data
        parser.error(f"--rows={args.rows} is too few; use at least 100000.")
    if args.phase:
        child(args.phase, args.folder, args.rows, n_users, n_items)
        return
    print(f"{args.rows:,} rows, {n_users:,} users, {n_items:,} items; Polars {pl.__version__}, "
          f"{pl.thread_pool_size()} threads")
    phases = [p for p in PHASES if not (p == "package" and args.no_package)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="reclab-scale-") as folder:
        for phase in phases:
            cmd = [sys.executable, __file__, "--rows", str(args.rows), "--phase", phase, "--folder", folder]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode:
                sys.exit(f"phase {phase} failed:\n{result.stderr}")
            numbers = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"{phase:9s} " + ", ".join(f"{k} {v:,.1f}" if v % 1 else f"{k} {v:,.0f}"
                                             for k, v in numbers.items()), flush=True)
            rows.append({"phase": phase, "rows": args.rows, "wall s": numbers["wall s"],
                         "peak MiB": numbers["peak MiB"]})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out, index=False, float_format="%.4g")
    print(f"wrote {args.out}")
    arithmetic()


if __name__ == "__main__":
    main()
