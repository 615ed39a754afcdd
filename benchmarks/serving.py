"""Serving latency and throughput of `reclab serve` on ml-100k: EASE and SASRec over loopback.

    python benchmarks/serving.py                       # 600 requests, 4 clients, per model
    python benchmarks/serving.py --requests 2000 --clients 8 --models EASE

Each model is fitted on the leave-last-out train part (SASRec for one epoch: serving cost depends
on the architecture, not on how long it trained), saved, and served by ``python -m reclab serve``
in its own process on 127.0.0.1. A second process sends a bounded load: ``--requests`` requests
shared by ``--clients`` concurrent clients (threads, one connection each request, urllib), stopped
at ``--deadline`` seconds whatever is left. The mix is what a live service sees: 80% ``/recommend``
for a known user, 10% ``/recommend`` for a newcomer's 5 items, 10% ``/events``. An event makes a new
history whose views (binary matrix, sequences) are carried over, not rebuilt (`reclab.online`), so
an event costs about what a recommendation does. The service answers one request at a time (one
lock: the models' caches are not thread-safe), so with c clients a request waits for about c − 1
others: latency ≈ c / rps.

Latency is per request, seen by the client (ms, connection included); rps is answered requests per
second of wall time for the whole load. Numbers, not assertions: the tests check correctness.
Writes ``benchmarks/results/serving.csv``.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reclab.data import leave_last_out, load_movielens
from reclab.models import EASE, SASRec

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "serving.csv"
MODELS = {
    "EASE": lambda: EASE(),
    "SASRec": lambda: SASRec(max_len=50, n_epochs=1, device="cpu"),
}
MIX = (("user", 0.8), ("history", 0.1), ("event", 0.1))


def _request(url: str, kind: str, rng: np.random.Generator, n_users: int, n_items: int) -> tuple[str, float, int]:
    """One request of ``kind``: (kind, seconds, HTTP status; 0 for no answer)."""
    if kind == "user":
        path, body = "/recommend", {"user": int(rng.integers(n_users)), "k": 10}
    elif kind == "history":
        path, body = "/recommend", {"history": rng.choice(n_items, 5, replace=False).tolist(), "k": 10}
    else:
        path, body = "/events", {"user": int(rng.integers(n_users)), "item": int(rng.integers(n_items))}
    request = urllib.request.Request(url + path, json.dumps(body).encode(), {"content-type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0
    return kind, time.perf_counter() - start, status


def load(url: str, n_requests: int, n_clients: int, deadline_s: float, seed: int, results) -> None:
    """The client process: ``n_requests`` of the mix from ``n_clients`` threads, until the deadline."""
    health = json.loads(urllib.request.urlopen(url + "/health", timeout=10).read())
    kinds, weights = zip(*MIX)
    plan = np.random.default_rng(seed).choice(kinds, n_requests, p=weights)
    stop = time.monotonic() + deadline_s

    def client(index: int) -> list:
        rng, done = np.random.default_rng([seed, index]), []
        for kind in plan[index::n_clients]:
            if time.monotonic() > stop:
                break
            done.append(_request(url, str(kind), rng, health["n_users"], health["n_items"]))
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(n_clients) as pool:
        rows = [row for part in pool.map(client, range(n_clients)) for row in part]
    results.put((rows, time.perf_counter() - start))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"reclab serve exited early: {server.communicate()[1].strip()}")
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"reclab serve did not answer {url}/health within {seconds:.0f} s") from None
            time.sleep(0.2)


def bench(name: str, path: Path, args) -> list[dict]:
    """Serve the model at ``path`` in one process, load it from another; one row per request kind."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
    server = subprocess.Popen([sys.executable, "-m", "reclab", "serve", str(path), "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(url, server)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        client = context.Process(target=load, args=(url, args.requests, args.clients, args.deadline, 0, results))
        client.start()
        rows, wall = results.get(timeout=args.deadline + 60)
        client.join(timeout=30)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    frame = pd.DataFrame(rows, columns=["request", "seconds", "status"])
    table = []
    for request, part in [("all", frame), *frame.groupby("request")]:
        ok = part[part["status"] == 200]
        table.append({"model": name, "request": request, "n": len(part), "errors": int((part["status"] != 200).sum()),
                      "p50_ms": 1000 * ok["seconds"].quantile(0.5), "p99_ms": 1000 * ok["seconds"].quantile(0.99),
                      "rps": len(ok) / wall if request == "all" else np.nan, "clients": args.clients})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="models to serve")
    parser.add_argument("--requests", type=int, default=600, help="requests per model (default 600)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds of load per model at most (default 30)")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads of the server (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = leave_last_out(load_movielens("100k"))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            start = time.perf_counter()
            path = MODELS[name]().fit(split.train, valid=split.valid).save(Path(folder) / f"{name}.npz")
            print(f"{name}: fitted in {time.perf_counter() - start:.1f} s; serving {args.requests} requests "
                  f"from {args.clients} clients", flush=True)
            rows += bench(name, path, args)
    table = pd.DataFrame(rows)
    print(f"\nml-100k, reclab serve on 127.0.0.1, {os.cpu_count()} CPUs; latency per request in ms")
    print(table.to_string(index=False, float_format="{:.1f}".format))
    OUT.parent.mkdir(exist_ok=True)
    table.to_csv(OUT, index=False, float_format="%.6g")


if __name__ == "__main__":
    main()
