"""reclab.serve: the HTTP service, in process (TestClient) and over a real socket (`reclab serve`).

Every served list is checked against the model's own offline `recommend` on a history the test
builds by hand (pandas rows appended or replaced), never against the service itself.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fastapi.testclient import TestClient  # the service's pins (fastapi, uvicorn, httpx): see reclab.serve

from reclab.data import leave_last_out, make_synthetic
from reclab.models import ALS, EASE, MarkovChain, SASRec
from reclab.serve import make_app

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
K = 5


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_users=60, n_items=40, seed=3)


@pytest.fixture(scope="module")
def split(data):
    return leave_last_out(data)


def _fit(name: str, split):
    models = {
        "EASE": lambda: EASE(reg=10.0),
        "Markov": lambda: MarkovChain(),
        "ALS": lambda: ALS(n_factors=8, n_epochs=3, cg_steps=None),
        "SASRec": lambda: SASRec(n_factors=8, n_blocks=1, max_len=20, n_epochs=2, batch_size=32, device="cpu"),
    }
    return models[name]().fit(split.train, valid=split.valid)


@pytest.fixture(scope="module", params=["EASE", "Markov", "ALS", "SASRec"])
def model(request, split):
    return _fit(request.param, split)


@pytest.fixture(scope="module")
def ease(split):
    return _fit("EASE", split)


def _served(response) -> tuple[list[int], list[float]]:
    assert response.status_code == 200, response.text
    rows = response.json()["items"]
    return [r["item"] for r in rows], [r["score"] for r in rows]


def _appended(history, user: int, item: int, timestamp: int):
    """``history`` with one row (user, item, 1.0, timestamp) added at the end, built by hand."""
    row = pd.DataFrame({"user": np.array([user], np.int32), "item": np.array([item], np.int32),
                        "rating": np.array([1.0], np.float32), "timestamp": np.array([timestamp], np.int64)})
    return history.with_ratings(pd.concat([history.ratings, row], ignore_index=True))


def test_health_names_model_and_sizes(ease, data):
    client = TestClient(make_app(ease, data))
    assert client.get("/health").json() == {"model": "EASE", "n_users": 60, "n_items": 40, "events": 0}


def test_recommend_user_equals_offline_recommend_with_titles(model, data):
    client = TestClient(make_app(model, data))
    items, scores = _served(client.post("/recommend", json={"user": 7, "k": K}))
    expected, expected_scores = model.recommend(7, K)
    assert items == expected.tolist()
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)
    titles = [r["title"] for r in client.post("/recommend", json={"user": 7, "k": K}).json()["items"]]
    assert titles == [data.items["title"][i] for i in expected]


def test_recommend_history_scores_a_newcomer_from_those_items(model, split):
    client = TestClient(make_app(model))
    history = [3, 17, 8]
    items, scores = _served(client.post("/recommend", json={"history": history, "k": K}))
    # by hand: slot 0 keeps only these three items, timed after all training rows, in this order
    others = split.train.ratings[split.train.ratings["user"] != 0]
    t0 = int(split.train.ratings["timestamp"].max()) + 1
    mine = pd.DataFrame({"user": np.zeros(3, np.int32), "item": np.array(history, np.int32),
                         "rating": np.ones(3, np.float32), "timestamp": np.arange(t0, t0 + 3, dtype=np.int64)})
    fresh = split.train.with_ratings(pd.concat([others, mine], ignore_index=True))
    expected, expected_scores = model.recommend(0, K, history=fresh)
    assert items == expected.tolist()
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)
    assert not set(items) & set(history)  # what the newcomer has seen is excluded


def test_event_rescores_from_the_new_history_without_refit(model, split):
    """After each event the served list is model.recommend(user, k, history=<history + that row>)."""
    client = TestClient(make_app(model))
    user, history = 11, split.train
    before, _ = _served(client.post("/recommend", json={"user": user, "k": K}))
    t = int(history.ratings["timestamp"].max()) + 100
    for step, item in enumerate([before[0], before[2]]):  # events on items the model ranked high
        answer = client.post("/events", json={"user": user, "item": int(item), "timestamp": t + step})
        assert answer.status_code == 200, answer.text
        history = _appended(history, user, int(item), t + step)
        assert answer.json() == {"user": user, "n_interactions": int((history.ratings["user"] == user).sum())}
        items, scores = _served(client.post("/recommend", json={"user": user, "k": K}))
        expected, expected_scores = model.recommend(user, K, history=history)
        assert items == expected.tolist()
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)
        assert int(item) not in items  # the new item now counts as seen
    assert client.get("/health").json()["events"] == 2
    # another user is served from the training history still
    assert _served(client.post("/recommend", json={"user": 12, "k": K}))[0] == model.recommend(12, K)[0].tolist()


def test_event_without_timestamp_is_the_users_latest(split):
    markov = _fit("Markov", split)
    client = TestClient(make_app(markov))
    assert client.post("/events", json={"user": 4, "item": 9}).status_code == 200
    # a first-order chain scores from the latest item only: now item 9's successors
    expected = markov.recommend(4, K, history=_appended(split.train, 4, 9, 2**40))[0]
    assert _served(client.post("/recommend", json={"user": 4, "k": K}))[0] == expected.tolist()


BAD = [  # (path, body: dict / raw str, expected status)
    ("/recommend", {"user": 60, "k": 5}, 404),
    ("/recommend", {"user": -1, "k": 5}, 404),
    ("/recommend", {"user": 0, "k": 41}, 422),
    ("/recommend", {"user": 0, "k": 0}, 422),
    ("/recommend", {"user": 0, "k": 10**30}, 422),
    ("/recommend", {"history": [], "k": 5}, 422),
    ("/recommend", {"history": [1, 40], "k": 5}, 404),
    ("/recommend", {"history": [1, "a"], "k": 5}, 422),
    ("/recommend", {"history": [1, 10**30], "k": 5}, 422),
    ("/recommend", {"history": [1.5], "k": 5}, 422),
    ("/recommend", {"user": 0, "history": [1], "k": 5}, 422),
    ("/recommend", {"k": 5}, 422),
    ("/recommend", {"user": "0", "k": 5}, 422),
    ("/recommend", {"user": True, "k": 5}, 422),
    ("/recommend", {"users": 0}, 422),
    ("/recommend", [0, 1], 422),
    ("/recommend", "{not json", 422),
    ("/recommend", "", 422),
    ("/events", {"user": 0, "item": 40}, 404),
    ("/events", {"user": 99, "item": 1}, 404),
    ("/events", {"user": 0}, 422),
    ("/events", {"user": 0, "item": 1, "rating": "5"}, 422),
    ("/events", '{"user": 0, "item": 1, "rating": NaN}', 422),
    ("/events", {"user": 0, "item": 1, "timestamp": -5}, 422),
    ("/events", {"user": 0, "item": 1, "timestamp": 10**40}, 422),
    ("/events", "[[[", 422),
]


def test_bad_requests_are_4xx_with_a_json_error_never_5xx(ease):
    client = TestClient(make_app(ease), raise_server_exceptions=False)
    for path, body, status in BAD:
        if isinstance(body, str):
            response = client.post(path, content=body, headers={"content-type": "application/json"})
        else:
            response = client.post(path, json=body)
        assert response.status_code == status, (path, body, response.status_code, response.text)
        assert "detail" in response.json(), (path, body)
    assert client.get("/nowhere").status_code == 404
    assert client.get("/recommend").status_code == 405
    assert client.get("/health").json()["events"] == 0  # no bad event was recorded


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None, timeout: float = 10.0):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def ease_file(tmp_path_factory, ease):
    return ease.save(tmp_path_factory.mktemp("served") / "ease.npz")


def test_reclab_serve_over_a_real_socket(loopback, ease_file, ease, split):
    port = _free_port(loopback)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "reclab", "serve", str(ease_file), "--host", loopback,
                                "--port", str(port), "--no-titles"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://{loopback}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"reclab serve exited early: {process.communicate()}"
            try:
                status, health = _call(base + "/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "reclab serve did not answer /health within 60 s"
                time.sleep(0.2)
        assert (status, health["model"], health["n_items"]) == (200, "EASE", 40)
        status, body = _call(base + "/recommend", {"user": 5, "k": K})
        assert status == 200 and [r["item"] for r in body["items"]] == ease.recommend(5, K)[0].tolist()
        item = body["items"][0]["item"]
        assert _call(base + "/events", {"user": 5, "item": item, "timestamp": 10**10})[0] == 200
        expected = ease.recommend(5, K, history=_appended(split.train, 5, item, 10**10))[0]
        assert [r["item"] for r in _call(base + "/recommend", {"user": 5, "k": K})[1]["items"]] == expected.tolist()
        assert _call(base + "/recommend", {"user": 500, "k": K})[0] == 404
        assert _call(base + "/recommend", {"history": [], "k": K})[0] == 422
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert f"serving EASE on http://{loopback}:{port}" in out
    assert "Traceback" not in err


def test_reclab_serve_on_a_port_in_use_is_one_clear_line(loopback, ease_file, capsys):
    from reclab.cli import main

    with socket.socket() as holder:
        holder.bind((loopback, 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        assert main(["serve", str(ease_file), "--host", loopback, "--port", str(port), "--no-titles"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("reclab serve: error: cannot listen on")
    assert f":{port}" in err and "in use" in err


def test_views_carried_across_events_equal_views_built_afresh(split):
    """LiveHistory updates binary, sequences and last items per event; each equals a fresh build."""
    from reclab.models.markov import last_items
    from reclab.online import LiveHistory, with_items

    live = LiveHistory(_fit("Markov", split))
    t = int(split.train.ratings["timestamp"].max())
    events = [(4, 9, t + 1), (4, 9, t + 2), (5, 0, None), (4, 30, t + 3), (4, 2, 5)]  # a repeat, a default time, an old one
    for user, item, timestamp in events:
        live.append(user, item, timestamp=timestamp)
        live.recommend(user, K)  # builds (or reads the carried) views
        fresh = live.history.with_ratings(live.history.ratings.copy())  # a new object: every view built anew
        assert (live.history.binary() != fresh.binary()).nnz == 0
        assert live.history.binary().has_sorted_indices and live.history.binary().dtype == np.float32
        carried = live.history.view("sequences", lambda d: d.sequences())  # built here only after the old event
        assert len(carried) == split.train.n_users
        assert all(np.array_equal(a, b) for a, b in zip(carried, fresh.sequences()))
        np.testing.assert_array_equal(last_items(live.history), last_items(fresh))
    for user in (0, 4, split.train.n_users - 1):  # a newcomer's one-off history, in the first, a middle, the last slot
        replaced = with_items(live.history, user, [3, 17, 3, 8])
        fresh = replaced.with_ratings(replaced.ratings.copy())
        assert (replaced.binary() != fresh.binary()).nnz == 0 and replaced.binary().has_sorted_indices
        assert all(np.array_equal(a, b) for a, b in
                   zip(replaced.view("sequences", lambda d: d.sequences()), fresh.sequences()))
        np.testing.assert_array_equal(last_items(replaced), last_items(fresh))
