"""reclab.launch: the commands it builds, what `run` reports, and a real `reclab serve` child.

The references are the model in this process: a command's list must be the one
``model.recommend`` gives here for the same file.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from reclab import launch
from reclab.data import leave_last_out, make_synthetic
from reclab.models import EASE


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    split = leave_last_out(make_synthetic(n_users=60, n_items=40, seed=3))
    folder = tmp_path_factory.mktemp("launch")
    model = EASE(reg=10.0).fit(split.train)
    model.save(folder / "ease.npz")
    return folder, model


def test_commands_are_this_python_and_show_as_typed():
    assert launch.reclab("train", "--epochs", 2) == [sys.executable, "-m", "reclab", "train", "--epochs", "2"]
    command = launch.torchrun("train", "--model", "SASRec", nproc_per_node=3)
    assert command[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "3"]
    assert command[6:] == ["-m", "reclab", "train", "--model", "SASRec"]
    assert launch._shown(command) == "torchrun --standalone --nproc_per_node 3 -m reclab train --model SASRec"
    assert launch._shown(launch.reclab("evaluate", "a b.npz")) == "reclab evaluate 'a b.npz'"
    with pytest.raises(ValueError, match="nproc_per_node=0"):
        launch.torchrun("train", nproc_per_node=0)


def test_run_gives_the_in_process_list_and_the_exit_status(saved):
    folder, model = saved
    ran = launch.run(launch.reclab("recommend", "ease.npz", "--user", "4", "-k", "5", "--no-titles"), cwd=folder)
    assert ran.returncode == 0, ran.stderr
    shown = [int(line.split()[1]) for line in ran.stdout.splitlines()[1:]]
    assert shown == model.recommend(4, k=5)[0].tolist()
    text = str(ran)
    assert text.startswith("$ reclab recommend ease.npz --user 4") and text.endswith("(exit status 0)")

    bad = launch.run(launch.reclab("recommend", "ease.npz", "--user", "600", "--no-titles"), cwd=folder)
    assert bad.returncode == 1 and "user index 600" in bad.stderr and "Traceback" not in bad.stderr
    assert "user index 600" in str(bad) and str(bad).endswith("(exit status 1)")


def test_run_drops_only_torchrun_notices_and_keeps_its_deadline(tmp_path):
    ran = launch.Ran("torchrun x", 0, "out\n", "W1202 12:00:00.1 1 torch/run.py:1] \n*****\n"
                     "Setting OMP_NUM_THREADS environment variable for each process to be 1\nreal error\n")
    assert ran.lines() == ["out", "real error"]
    with pytest.raises(TimeoutError, match="timeout=0.5"):
        launch.run([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path, timeout=0.5)
    with pytest.raises(FileNotFoundError, match="cwd="):
        launch.run(launch.reclab("--help"), cwd=tmp_path / "missing")


def test_service_answers_as_the_model_and_stops(loopback, saved):
    folder, model = saved
    with launch.Service("ease.npz", cwd=folder, args=("--no-titles",)) as service:
        assert service.url.startswith("http://127.0.0.1:") and service.running
        assert service.get("/health").json()["n_items"] == model.n_items_
        items = [r["item"] for r in service.post("/recommend", {"user": 7, "k": 6}).json()["items"]]
        assert items == model.recommend(7, k=6)[0].tolist()
        assert service.post("/recommend", {"user": 7, "k": 0}).status_code == 422
    assert not service.running and service.stop() == service._process.returncode


def test_service_reports_a_bad_file_and_a_missing_one(loopback, tmp_path):
    (tmp_path / "junk.npz").write_text("not a model")
    with pytest.raises(RuntimeError, match="exited.*not a reclab model file"):
        launch.Service("junk.npz", cwd=tmp_path, args=("--no-titles",), timeout=60)
    with pytest.raises(FileNotFoundError, match="model_file='nothing.npz'"):
        launch.Service("nothing.npz", cwd=tmp_path)
