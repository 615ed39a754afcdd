"""fit_net under torchrun: 2 CPU processes (gloo) against one process computing the same thing.

Each test launches ``python -m torch.distributed.run --nproc_per_node 2`` on a worker script written
to ``tmp_path``; the workers write their results (weights, histories) to files there, and the test
compares them with a reference computed here, in one process. A launch costs seconds (two
interpreters import torch), so the file starts only two: phase one runs every job that needs no
earlier launch, in a row (fit_net is called several times in the same processes, as a script may);
phase two resumes phase one's checkpoint, then runs the job that must fail.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import reclab
from reclab.data import leave_last_out, make_synthetic
from reclab.models import SASRec
from reclab.train import is_main_process, local_rank, rank, world_size

WORKER = textwrap.dedent('''
    import json, sys
    from pathlib import Path

    import numpy as np
    import torch

    torch.set_num_threads(1)
    import reclab.train as train

    out, jobs = Path(sys.argv[1]), sys.argv[2].split(",")
    r = train.rank()
    saves = []
    real_save = torch.save
    torch.save = lambda obj, f, *a, **k: (saves.append(str(f)), real_save(obj, f, *a, **k))[1]

    def weights(net):
        return {k: v.detach().clone() for k, v in net.state_dict().items()}

    class Linear(torch.nn.Module):  # a loss that is a mean over rows, no randomness
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 2)
            self.unused = torch.nn.Linear(2, 2)  # not in the loss: DDP must cope, the optimiser skips it

        def loss(self, batch):
            return ((self.layer(batch["x"]) - batch["y"]) ** 2).sum(1).mean()

    class Dropout(torch.nn.Module):  # dropout: the random state matters
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.layers = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                              torch.nn.Linear(16, 1))

        def loss(self, batch):
            return torch.nn.functional.mse_loss(self.layers(batch["x"]).squeeze(-1), batch["y"])

    X = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    Y = torch.stack([X @ torch.tensor([1.0, -2.0, 0.5, 0.0]), X[:, 0]], 1)

    def batches(rng):
        order = torch.from_numpy(rng.permutation(len(X)))
        for start in range(0, len(X), 16):
            idx = order[start: start + 16]
            yield {"x": X[idx], "y": Y[idx][:, 0], "note": "a value that is not a tensor"}

    def metric(net):  # deterministic in eval mode
        return -float(net.loss({"x": X, "y": Y[:, 0]}))

    def one_step(rows):
        net = Linear()
        batch = {"x": X[:rows], "y": Y[:rows]}
        train.fit_net(net, lambda rng: [batch], n_epochs=1, optimizer="sgd", lr=0.1, clip=None,
                      device="cpu", progress=False)
        torch.save(weights(net), out / f"step{rows}_{r}.pt")

    for job in jobs:
        if job == "env":
            (out / f"env_{r}.json").write_text(json.dumps(
                {"rank": r, "world": train.world_size(), "local": train.local_rank(),
                 "main": train.is_main_process()}))
        elif job == "step":
            one_step(16)
            one_step(15)  # uneven: slices of 7 and 8 rows
        elif job == "sasrec":
            from reclab.data import leave_last_out, make_synthetic
            from reclab.models import SASRec

            split = leave_last_out(make_synthetic(n_users=64, n_items=30, length=(8, 14), seed=3))
            model = SASRec(n_factors=16, n_blocks=1, max_len=16, dropout=0.0, n_epochs=6, batch_size=16,
                           lr=1e-2, patience=2, device="cpu", seed=0).fit(split.train, valid=split.valid)
            h = model.history_
            (out / f"sasrec_{r}.json").write_text(json.dumps(
                {"best_value": h.best_value, "best_epoch": h.best_epoch, "valid": h.frame["valid"].tolist(),
                 "loss": h.frame["loss"].tolist()}))
            torch.save(weights(model.net_), out / f"sasrec_{r}.pt")
        elif job == "stop":  # only process 0 validates: process 1's copy of the script must never run
            script = iter([0.1, 0.5, 0.3, 0.2, 0.9, 0.9])
            def scripted(net):
                if r != 0:
                    raise AssertionError("validate ran on a process other than 0")
                return next(script)
            net = Dropout()
            h = train.fit_net(net, batches, n_epochs=6, validate=scripted, patience=2, device="cpu", progress=False)
            (out / f"stop_{r}.json").write_text(json.dumps(
                {"best_epoch": h.best_epoch, "epochs": len(h.frame), "stopped": h.stopped_early}))
            torch.save(weights(net), out / f"stop_{r}.pt")
        elif job in ("full", "half", "resume"):
            saves.clear()
            net = Dropout()
            h = train.fit_net(net, batches, n_epochs=2 if job == "half" else 4, validate=metric, device="cpu",
                              progress=False, checkpoint=out / f"{job if job == 'full' else 'half'}.ckpt",
                              resume=job == "resume")
            torch.save(weights(net), out / f"{job}_{r}.pt")
            (out / f"{job}_{r}.json").write_text(json.dumps(
                {"loss": h.frame["loss"].tolist(), "valid": h.frame["valid"].tolist(),
                 "best_epoch": h.best_epoch, "checkpoint_saves": len([s for s in saves if ".ckpt" in s])}))
        elif job == "tiny":  # 3 rows in batches of 2: the last batch has 1 row for 2 processes
            train.fit_net(Dropout(), lambda rng: [{"x": X[:2], "y": Y[:2, 0]}, {"x": X[2:3], "y": Y[2:3, 0]}],
                          n_epochs=1, device="cpu", progress=False)
        else:
            raise SystemExit(f"unknown job {job}")
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(tmp_path: Path, address: str, jobs: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the worker's ``jobs`` in 2 processes; the completed process (its output in .stdout)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                              "MASTER_PORT")}
    # the worker runs from tmp_path: import the reclab under test, not another copy
    env["PYTHONPATH"] = os.pathsep.join([str(Path(reclab.__file__).parents[1]), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"  # in a network namespace the host name may resolve to nothing usable
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", address,
               "--master_port", str(free_port()), str(script), str(tmp_path), jobs]
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


def ok(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, f"torchrun failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"


@pytest.fixture(scope="module")
def phase_one(tmp_path_factory, loopback):
    """One launch for the jobs that need no earlier launch: their output folder."""
    out = tmp_path_factory.mktemp("ddp")
    ok(torchrun(out, loopback, "env,step,sasrec,stop,full,half"))
    shutil.copy(out / "half.ckpt", out / "half_as_written.ckpt")  # phase two rewrites half.ckpt
    return out


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_helpers_name_the_process(phase_one):
    envs = [json.loads((phase_one / f"env_{r}.json").read_text()) for r in range(2)]
    assert envs == [{"rank": 0, "world": 2, "local": 0, "main": True},
                    {"rank": 1, "world": 2, "local": 1, "main": False}]
    assert (rank(), world_size(), local_rank(), is_main_process()) == (0, 1, 0, True)  # this plain process


def hand_sgd_step(rows: int, slices: list[slice]) -> dict:
    """The reference: one SGD step (lr 0.1) on the gradient of the mean, over ``slices``, of each slice's mean loss."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2)
    unused = torch.nn.Linear(2, 2)
    X = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    Y = torch.stack([X @ torch.tensor([1.0, -2.0, 0.5, 0.0]), X[:, 0]], 1)
    x, y = X[:rows].double(), Y[:rows].double()
    w, b = layer.weight.detach().double().requires_grad_(), layer.bias.detach().double().requires_grad_()
    loss = sum(((x[s] @ w.T + b - y[s]) ** 2).sum(1).mean() for s in slices) / len(slices)
    gw, gb = torch.autograd.grad(loss, (w, b))
    return {"layer.weight": w.detach() - 0.1 * gw, "layer.bias": b.detach() - 0.1 * gb,
            "unused.weight": unused.weight.detach().double(), "unused.bias": unused.bias.detach().double()}


def max_diff(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in b)


def test_first_step_with_two_processes_is_the_single_process_step(phase_one):
    # same global batch of 16 rows, 8 per process; the reference is computed in float64 by hand,
    # so the difference is float32 rounding: ~1e-7 on weights of order 1 (measured: < 1e-7); 1e-6 allowed
    reference = hand_sgd_step(16, [slice(0, 16)])
    steps = [load(phase_one / f"step16_{r}.pt") for r in range(2)]
    assert max_diff(steps[0], reference) < 1e-6
    assert all(torch.equal(steps[0][k], steps[1][k]) for k in steps[0])  # the processes agree bit for bit
    assert torch.equal(steps[0]["unused.weight"], reference["unused.weight"].float())  # no gradient, not moved


def test_uneven_batch_averages_the_slice_means_as_documented(phase_one):
    # 15 rows on 2 processes: slices of 7 and 8 rows (none dropped or padded); DDP averages their means
    documented = hand_sgd_step(15, [slice(0, 7), slice(7, 15)])
    global_mean = hand_sgd_step(15, [slice(0, 15)])
    step = load(phase_one / "step15_0.pt")
    assert max_diff(step, documented) < 1e-6
    assert max_diff(step, global_mean) > 1e-4  # the weighting is visible: it is not the global mean


@pytest.fixture(scope="module")
def phase_two(phase_one, loopback):
    """The second launch: resume phase one's 2-epoch checkpoint to 4 epochs, then the failing job."""
    return torchrun(phase_one, loopback, "resume,tiny")


def test_sasrec_with_two_processes_reaches_the_single_process_validation_ndcg(phase_one, one_thread):
    split = leave_last_out(make_synthetic(n_users=64, n_items=30, length=(8, 14), seed=3))
    single = SASRec(n_factors=16, n_blocks=1, max_len=16, dropout=0.0, n_epochs=6, batch_size=16, lr=1e-2,
                    patience=2, device="cpu", seed=0).fit(split.train, valid=split.valid)
    runs = [json.loads((phase_one / f"sasrec_{r}.json").read_text()) for r in range(2)]
    nets = [load(phase_one / f"sasrec_{r}.pt") for r in range(2)]
    assert runs[0] == runs[1]  # one decision: same epochs, same best epoch, same (broadcast) metric
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])  # identical best weights
    # not exact even without dropout: SASRec's loss is a mean over non-padding positions, and each
    # process averages over its own positions before DDP averages the two, so the steps differ a
    # little. Measured: the same best value, and at most 0.007 apart on any epoch; allowed 0.03, a
    # third of the spread of the best value over seeds 0-3 of one process (0.69 to 0.79)
    assert len(runs[0]["valid"]) == len(single.history_.frame)
    assert np.abs(np.array(runs[0]["valid"]) - single.history_.frame["valid"].to_numpy()).max() < 0.03
    assert abs(runs[0]["best_value"] - single.history_.best_value) < 0.03


def test_only_process_zero_validates_and_all_stop_together(phase_one):
    runs = [json.loads((phase_one / f"stop_{r}.json").read_text()) for r in range(2)]
    assert runs[0] == runs[1] == {"best_epoch": 2, "epochs": 4, "stopped": True}
    nets = [load(phase_one / f"stop_{r}.pt") for r in range(2)]
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])


def test_only_process_zero_writes_and_resume_continues_the_run(phase_one, phase_two):
    halves = [json.loads((phase_one / f"half_{r}.json").read_text()) for r in range(2)]
    assert [h["checkpoint_saves"] for h in halves] == [2, 0]  # one write per epoch, all by process 0
    state = load(phase_one / "half_as_written.ckpt")
    assert state["epoch"] == 2 and len(state["rank_rng"]) == 2
    assert (phase_one / "resume_1.json").exists(), f"the resume job failed:\n{phase_two.stderr[-5000:]}"
    resumed = [json.loads((phase_one / f"resume_{r}.json").read_text()) for r in range(2)]
    full = json.loads((phase_one / "full_0.json").read_text())
    assert [h["checkpoint_saves"] for h in resumed] == [2, 0]  # epochs 3 and 4
    # the reference: the same 2-process run, uninterrupted; each process restored its own random state
    for r in range(2):
        assert {k: resumed[r][k] for k in ("loss", "valid", "best_epoch")} == \
            {k: full[k] for k in ("loss", "valid", "best_epoch")}
        a, b = load(phase_one / f"resume_{r}.pt"), load(phase_one / "full_0.pt")
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert load(phase_one / "half.ckpt")["epoch"] == 4


def test_world_size_larger_than_a_batch_is_a_clear_error(phase_two):
    run = phase_two
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "has 1 row(s), fewer than world_size=2 processes" in output
    assert "--nproc_per_node" in output
