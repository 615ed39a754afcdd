"""reclab.cli: each command against the library doing the same thing, and every user mistake as one line.

Most calls go through ``main(argv)`` in process (exit status and captured output); a few through
``python -m reclab`` in a subprocess, as a user runs it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from reclab import evaluate
from reclab.cli import main
from reclab.data import leave_last_out, load_movielens, make_synthetic
from reclab.models import EASE

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    return load_movielens("100k")


@pytest.fixture(scope="module")
def split(data):
    return leave_last_out(data)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``reclab train --model EASE`` run once: (path, what it printed)."""
    path = tmp_path_factory.mktemp("cli") / "ease.npz"
    capture = subprocess.run([sys.executable, "-m", "reclab", "train", "--model", "EASE", "--out", str(path)],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                             capture_output=True, text=True, timeout=300)
    assert capture.returncode == 0, capture.stderr
    return path, capture.stdout


@pytest.fixture(scope="module")
def model(trained):
    return EASE.load(trained[0])


def _run(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_train_saves_the_model_and_prints_its_validation_ndcg(trained, model, split):
    path, out = trained
    expected = evaluate(model, split, 10, part="valid", metrics=("NDCG",), ci=None)["value"].iloc[0]
    assert out.strip() == f"EASE on ml-100k: validation NDCG@10 = {expected:.4f}; saved to {path}"
    np.testing.assert_array_equal(model.train_.ratings["item"], split.train.ratings["item"])  # fitted on train only


def test_train_under_torchrun_writes_and_prints_on_rank_0_only(tmp_path, capsys, monkeypatch):
    out = tmp_path / "pop.npz"
    monkeypatch.setenv("RANK", "1")
    assert _run(capsys, "train", "--model", "Popularity", "--out", out) == (0, "", "")
    assert not out.exists()
    monkeypatch.setenv("RANK", "0")
    status, printed, _ = _run(capsys, "train", "--model", "Markov", "--out", out)
    assert status == 0 and out.exists() and printed.startswith("Markov on ml-100k: validation NDCG@10 = ")


def test_evaluate_prints_the_test_metrics(trained, model, split, capsys):
    status, out, err = _run(capsys, "evaluate", trained[0], "-k", 5)
    assert status == 0, err
    expected = evaluate(model, split, 5).set_index("metric")
    rows = {line.split()[3]: line.split() for line in out.splitlines()[1:]}
    assert rows["NDCG"][:3] == ["EASE", "test", "full"] and rows["NDCG"][4] == "5"
    for metric in ("HR", "NDCG", "MRR"):
        assert rows[metric][5] == f"{expected.loc[metric, 'value']:.4f}"


def _listed(out: str) -> tuple[list[int], list[str]]:
    lines = out.splitlines()[1:]
    return [int(line.split()[1]) for line in lines], [line.split(None, 3)[3] for line in lines]


def test_recommend_prints_the_offline_list_with_titles(trained, model, data, capsys):
    status, out, err = _run(capsys, "recommend", trained[0], "--user", 3, "-k", 7)
    assert status == 0, err
    items, titles = _listed(out)
    assert items == model.recommend(3, 7)[0].tolist()
    assert titles == [data.items["title"][i] for i in items]


def test_recommend_from_a_given_history(trained, model, split, capsys):
    status, out, err = _run(capsys, "recommend", trained[0], "--user", 3, "-k", 5, "--history", "49, 180,99")
    assert status == 0, err
    # by hand: user 3's rows replaced by 49, 180, 99 (EASE reads the set: timestamps do not matter)
    ratings = split.train.ratings
    mine = pd.DataFrame({"user": np.int32(3), "item": np.array([49, 180, 99], np.int32),
                         "rating": np.float32(1), "timestamp": np.int64(0)})
    history = split.train.with_ratings(pd.concat([ratings[ratings["user"] != 3], mine], ignore_index=True))
    assert _listed(out)[0] == model.recommend(3, 5, history=history)[0].tolist()


def test_python_m_reclab_runs_and_fails_in_one_line(trained, model):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

    def run(*argv):
        return subprocess.run([sys.executable, "-m", "reclab", *map(str, argv)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    ok = run("recommend", trained[0], "--user", 0, "-k", 3, "--no-titles")
    assert ok.returncode == 0 and _listed(ok.stdout)[0] == model.recommend(0, 3)[0].tolist()
    bad = run("recommend", trained[0], "--user", 943, "--no-titles")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr == "reclab recommend: error: user index 943 is out of range: this model knows users 0..942.\n"
    helped = run("--help")
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("train", "evaluate", "recommend", "serve"))


def _foreign_files(folder: Path, trained: Path) -> dict[str, Path]:
    """Files a user may pass by mistake, each made by hand."""
    files = {}
    files["text"] = folder / "notes.npz"
    files["text"].write_text("not a model\n")
    files["plain npz"] = folder / "arrays.npz"
    np.savez(files["plain npz"], x=np.arange(3))
    files["npy"] = folder / "array.npy"
    np.save(files["npy"], np.arange(3))
    raw = trained.read_bytes()
    files["truncated"] = folder / "truncated.npz"
    files["truncated"].write_bytes(raw[: len(raw) // 2])
    files["tampered"] = folder / "tampered.npz"
    middle = len(raw) // 2
    files["tampered"].write_bytes(raw[:middle] + bytes(b ^ 0xFF for b in raw[middle:middle + 64]) + raw[middle + 64:])
    with np.load(trained, allow_pickle=False) as f:
        arrays = {key: f[key] for key in f.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    for name, cls in (("other class", "ALS"), ("not a model class", "semantic_ids")):
        files[name] = folder / f"{name.replace(' ', '_')}.npz"
        np.savez(files[name], __meta__=np.array(json.dumps({**meta, "class": cls})), **arrays)
    files["synthetic"] = folder / "synthetic.npz"
    synthetic = leave_last_out(make_synthetic(n_users=30, n_items=20))
    EASE().fit(synthetic.train).save(files["synthetic"])
    return files


def test_every_mistake_is_one_line_on_stderr_and_a_non_zero_exit(trained, tmp_path, capsys):
    path = trained[0]
    files = _foreign_files(tmp_path, path)
    cases = [  # (argv, exit status, what the line must say)
        (["train", "--model", "Foo", "--out", tmp_path / "x.npz"], 2, "invalid choice: 'Foo'"),
        (["train", "--model", "EASE"], 2, "--out"),
        (["train", "--model", "EASE", "--out", tmp_path / "x.npz", "--epochs", 0], 1, "--epochs 0"),
        (["train", "--model", "EASE", "--out", tmp_path / "x.npz", "--data", "2k"], 1, "size='2k'"),
        (["evaluate", tmp_path / "missing.npz"], 1, "does not exist"),
        (["evaluate", files["text"]], 1, "not a reclab model file"),
        (["evaluate", files["plain npz"]], 1, "not a reclab model file"),
        (["evaluate", files["npy"]], 1, "not a reclab model file"),
        (["evaluate", files["truncated"]], 1, "truncated"),
        (["recommend", files["tampered"], "--user", 0], 1, "tampered.npz"),
        (["evaluate", files["other class"]], 1, "lacks the learned state"),
        (["evaluate", files["not a model class"]], 1, "not a reclab model"),
        (["evaluate", files["synthetic"]], 1, "'synthetic', which is not a MovieLens dataset"),
        (["evaluate", files["synthetic"], "--data", "100k"], 1, "differ from ml-100k"),
        (["evaluate", path, "--data", "1m"], 1, "not on ml-1m; pass --data 100k"),
        (["evaluate", path, "-k", 0], 1, "-k 0"),
        (["recommend", path], 2, "--user"),
        (["recommend", path, "--user", "x"], 2, "invalid int value: 'x'"),
        (["recommend", path, "--user", 943], 1, "user index 943 is out of range"),
        (["recommend", path, "--user", -1], 1, "user index -1 is out of range"),
        (["recommend", path, "--user", 0, "-k", 1683], 1, "k=1683 must be an int from 1 to 1682"),
        (["recommend", path, "--user", 0, "--history", ""], 1, "is empty"),
        (["recommend", path, "--user", 0, "--history", " , "], 1, "is empty"),
        (["recommend", path, "--user", 0, "--history", "1,a"], 1, "must be comma-separated item indices"),
        (["recommend", path, "--user", 0, "--history", "1,1682"], 1, "item index 1682 is out of range"),
        (["serve", path, "--port", 70000], 1, "--port 70000"),
        (["launch", path], 2, "invalid choice: 'launch'"),
    ]
    for argv, expected, words in cases:
        status, out, err = _run(capsys, *argv)
        command = next((str(a) for a in argv if str(a) in ("train", "evaluate", "recommend", "serve")), "reclab")
        assert status == expected, (argv, status, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert err.startswith("reclab") and ": error: " in err and words in err, (argv, err)
        assert command == "reclab" or f"reclab {command}" in err, (argv, err)


def test_the_console_script_points_at_main():
    import importlib
    import tomllib

    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["reclab"]
    module, name = target.split(":")
    assert getattr(importlib.import_module(module), name) is main
