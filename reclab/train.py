"""One training loop for every torch model in reclab.

Nothing in this file knows any model (the habit of minGPT's ``trainer.py``): a net is any
``torch.nn.Module`` with a ``loss(batch) -> scalar tensor`` method, and the data is a function that
yields batches (dicts of CPU tensors) for one epoch. `fit_net` adds what every model needs and
nobody should write twice: the device, the optimiser (AdamW, Adam or SGD), gradient clipping, bf16 autocast on a GPU, early
stopping on a validation metric with the best weights restored, a checkpoint written every epoch
that a later call can resume from, a NaN guard, and a progress bar.

Repeatability, exactly: on the CPU, with the same number of torch threads, the same net
initialisation, ``seed`` and batches give bit-identical weights, and a run resumed from its
checkpoint ends exactly where an uninterrupted run ends (the checkpoint holds the torch random
state; each epoch's numpy generator is derived from ``(seed, epoch)``). This needs a net whose
backward pass is deterministic: a net that gathers rows with advanced indexing (``table[index]``
with repeated indices) gets gradients summed in a thread-dependent order once torch uses 2 or more
threads; gather with ``table.index_select(0, index)`` or ``nn.Embedding`` instead, as reclab's nets
do. FunkSVD and BPR then give the same bits on 1 thread and on 2; GMF, MLP and NeuMF the same bits
run after run on one thread count (a matrix product may split its sums differently on another).
For SASRec and BERT4Rec with 2 or more threads the last bits may still differ from run to run
(about 1e-6 after 3 epochs): call ``torch.set_num_threads(1)`` when bits matter. On a GPU only
closeness is promised (CUDA adds gradients with atomics).

Resuming refuses a checkpoint that does not continue this run: written with another optimiser,
``lr``, ``weight_decay``, ``clip``, ``seed`` or ``patience``, already past ``n_epochs``, of another
net (keys or shapes), or not a checkpoint at all (truncated, another kind of file). The error names
the file and the fix: pass the settings it was written with, or pass a new checkpoint path to start
a new run (fit_net never deletes the file).

Distributed data parallel (several processes, one per GPU or CPU socket). Launched by ``torchrun``
(which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT), `fit_net` trains with
PyTorch's DistributedDataParallel (DDP: Li et al., "PyTorch Distributed: Experiences on
Accelerating Data Parallel Training", VLDB 2020, https://arxiv.org/abs/2006.15704), with no change
to the model or the script: ``SASRec(...).fit(train, valid=valid)`` in ``fit.py`` runs on 8 GPUs of
one machine with ::

    torchrun --standalone --nproc_per_node 8 fit.py

and on two machines of 8 GPUs each (the same command on both, HOST the address of the first) with ::

    torchrun --nnodes 2 --node_rank 0 --rdzv_backend c10d --rdzv_endpoint HOST:29500 --nproc_per_node 8 fit.py
    torchrun --nnodes 2 --node_rank 1 --rdzv_backend c10d --rdzv_endpoint HOST:29500 --nproc_per_node 8 fit.py

(``--nproc_per_node 2`` on a CPU machine trains in two processes, to try it out.) Every process
runs the whole script and must make the same `fit_net` calls (they wait for each other). What
happens:

- the process group is initialised from the environment unless the script did it first: backend
  ``nccl`` on CUDA, each process on ``cuda:LOCAL_RANK`` (device "auto" or "cuda"), ``gloo`` on the
  CPU; it is left initialised, for the script's own collectives;
- every process calls ``batches(rng)`` with the same rng, so they see the same batches in the same
  order, and each takes its contiguous slice of the rows of every batch (of every tensor whose first
  axis has the batch's row count; other values go whole to every process). DDP averages the
  gradients, so one step sees the same global batch as in one process: for a loss that is a mean
  over rows and a batch whose rows divide evenly, the step is the single-process step up to float
  rounding. Uneven batches are neither dropped nor padded: the slices differ by at most one row, so
  a row of a shorter slice weighs a little more (by at most a factor n / (n - world_size) for n rows).
  A loss that is a mean over something else (SASRec's over non-padding positions) is averaged per
  process first, so it is close to, not equal to, the single-process loss. A batch with fewer rows
  than processes is a ValueError; ``batches`` must draw its randomness from ``rng`` only, or the
  processes would see different batches;
- dropout and sampling inside ``loss`` use a torch stream per process (process r > 0 seeded from
  ``(seed, r)``), so runs are repeatable but not bit-identical to one process;
- the "loss" column of the history is the mean over processes; ``validate`` runs on process 0 only
  (the others wait) and its value is broadcast, so every process takes the same early-stopping
  decision, stops at the same epoch and restores the same best weights; the processes hold identical
  weights throughout (the same averaged gradients and the same optimiser step);
- only process 0 shows the progress bar and writes the checkpoint (with every process's random
  state); on resume every process reads the file (on a file system they all see) after a barrier,
  and every process returns only once the last checkpoint is written. A checkpoint resumes under
  another number of processes too, but then the per-process random streams start afresh.

`rank`, `world_size`, `local_rank` and `is_main_process` tell a script which process it is, e.g. to
write its results once: ``if is_main_process(): table.to_csv(...)``.

Data parallelism copies the whole net into every process. When the embedding tables no longer fit
in one device's memory (hundreds of millions of ids, as in industrial CTR models) the next step is
model parallelism: tables sharded row- or table-wise across devices, with an all-to-all exchange of
the looked-up rows and data parallelism for the small dense part, as DLRM (Naumov et al. 2019,
https://arxiv.org/abs/1906.00091) and TorchRec's ``DistributedModelParallel`` do. reclab's tables
(at most a few million rows) fit one device, so it stops at DDP.
"""
from __future__ import annotations

import atexit
import copy
import functools
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .utils import pick_device

__all__ = ["History", "fit_net", "is_main_process", "local_rank", "pick_device", "rank", "validation_ndcg",
           "world_size"]

Batches = Callable[[np.random.Generator], Iterable[dict[str, torch.Tensor]]]
OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}


@dataclass
class History:
    """What happened during `fit_net`: one row per epoch, and the best validation epoch.

    Attributes
    ----------
    frame : DataFrame with columns epoch (1-based), loss (mean training loss of the epoch),
        valid (the validation metric, NaN without ``validate``), seconds (training time of the
        epoch, validation excluded) and valid_seconds.
    best_epoch, best_value : the epoch whose weights the net holds at the end, and its metric
        (None without ``validate``).
    stopped_early : True when patience ran out before ``n_epochs``.
    """

    frame: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_COLUMNS))
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: bool = False
    name: str = ""

    def plot(self, ax=None):
        """Training loss (left axis) and validation metric (right axis) per epoch; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        f = self.frame
        ax.plot(f["epoch"], f["loss"], marker=".", color="C0", label="training loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss", color="C0")
        ax.set_title(f"Training curves{' — ' + self.name if self.name else ''}")
        if f["valid"].notna().any():
            right = ax.twinx()
            right.plot(f["epoch"], f["valid"], marker=".", color="C1", label="validation metric")
            right.set_ylabel("validation metric", color="C1")
            if self.best_epoch is not None:
                right.axvline(self.best_epoch, color="grey", linestyle=":", label=f"best epoch ({self.best_epoch})")
            lines = ax.get_lines() + right.get_lines()
            # below the axes: inside, a legend covers some of the curves whatever corner it takes
            ax.legend(lines, [line.get_label() for line in lines], loc="upper center", bbox_to_anchor=(0.5, -0.2),
                      ncol=len(lines), frameon=False)
        return ax


_COLUMNS = ["epoch", "loss", "valid", "seconds", "valid_seconds"]


# ---------------------------------------------------------------- distributed data parallel
def _initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"the environment variable {name}={value!r} must be an int (torchrun sets it); "
                         f"unset it to run in one process.") from None


def world_size() -> int:
    """The number of training processes: the process group's size, else WORLD_SIZE, else 1.

    Examples
    --------
    >>> world_size()   # a plain python process
    1
    """
    return dist.get_world_size() if _initialised() else _env_int("WORLD_SIZE", 1)


def rank() -> int:
    """This process's number among all processes (0 to ``world_size() - 1``); 0 in a plain process.

    Read from the process group when it exists, else from RANK (set by ``torchrun``), so a script
    may ask before it trains.

    Examples
    --------
    >>> rank()
    0
    """
    return dist.get_rank() if _initialised() else _env_int("RANK", 0)


def local_rank() -> int:
    """This process's number on its own machine (LOCAL_RANK, set by ``torchrun``): its GPU; 0 by default.

    Examples
    --------
    >>> local_rank()
    0
    """
    return _env_int("LOCAL_RANK", 0)


def is_main_process() -> bool:
    """True on process 0 (and in a plain process): the one that logs, checkpoints and should write files.

    Examples
    --------
    >>> if is_main_process():            # doctest: +SKIP
    ...     history.frame.to_csv("history.csv")
    """
    return rank() == 0


def _distributed_device(device: str | torch.device) -> torch.device:
    """This process's device, with the process group initialised (from the environment) if it is not yet."""
    kind = str(device).split(":")[0]
    if kind == "mps":
        raise ValueError(f"device={device!r} cannot train with DistributedDataParallel (torch has no "
                         f"collectives on Apple's MPS); pass device='cpu', or run in one process.")
    if kind in ("auto", "cuda") and ":" not in str(device) and torch.cuda.is_available():
        if local_rank() >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local_rank()} needs GPU cuda:{local_rank()}, but this machine has "
                             f"{torch.cuda.device_count()} (device={device!r}); launch at most "
                             f"--nproc_per_node {torch.cuda.device_count()}, or pass device='cpu'.")
        device = f"cuda:{local_rank()}"  # one GPU per process, numbered on each machine
    elif kind == "auto":
        device = "cpu"
    dev = pick_device(device)  # "cuda" on a machine without a GPU: its clear error
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not _initialised():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                device_id=dev if dev.type == "cuda" else None)
        atexit.register(_destroy)
    if dist.get_backend() == "nccl" and dev.type != "cuda":
        raise ValueError(f"the process group's backend is nccl, which only moves CUDA tensors, but device={device!r} "
                         f"trains on the CPU; pass device='auto' or 'cuda', or initialise the group with 'gloo'.")
    return dev


def _destroy() -> None:
    """At exit, release the group fit_net created (NCCL warns about a group left to the interpreter)."""
    if _initialised():
        dist.destroy_process_group()


def _shard(batch: dict, part: int, parts: int, label: str, epoch: int, b: int) -> dict:
    """Process ``part``'s contiguous slice of the rows of ``batch`` (slices differ by at most one row)."""
    n = next((v.shape[0] for v in batch.values() if torch.is_tensor(v) and v.ndim), None)
    if n is None:
        raise ValueError(f"{label}: batch {b} of epoch {epoch} holds no tensor with a row axis, so it cannot be "
                         f"split across world_size={parts} processes; yield dicts of (rows, ...) tensors.")
    if n < parts:
        raise ValueError(
            f"{label}: batch {b} of epoch {epoch} has {n} row(s), fewer than world_size={parts} processes, and "
            f"every process needs at least one row of every batch; launch fewer processes (torchrun "
            f"--nproc_per_node) or make every batch (the last one too) at least {parts} rows: a larger batch "
            f"size, or more training data."
        )
    lo, hi = part * n // parts, (part + 1) * n // parts
    return {k: v[lo:hi] if torch.is_tensor(v) and v.ndim and v.shape[0] == n else v for k, v in batch.items()}


def _rank_seed(seed: int, *keys: int) -> int:
    """A torch seed derived from ``(seed, *keys)``: a process's own stream (dropout masks differ between processes)."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1, np.uint64)[0])


def _broadcast_float(value: float, dev: torch.device) -> float:
    """Process 0's ``value``, on every process."""
    tensor = torch.tensor([value], dtype=torch.float64, device=dev)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def _rng_state(dev: torch.device) -> dict:
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None}


class _LossOf(torch.nn.Module):
    """``net.loss`` as ``forward``: DDP synchronises the gradients of what its forward computed."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, batch: dict) -> torch.Tensor:
        return self.net.loss(batch)


def _fit_net(
    net: torch.nn.Module,
    batches: Batches,
    *,
    n_epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: str = "adamw",
    validate: Callable[[torch.nn.Module], float] | None = None,
    patience: int | None = None,
    clip: float | None = 1.0,
    device: str = "auto",
    amp: bool = True,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    name: str = "",
) -> History:
    """Train ``net`` by minimising ``net.loss(batch)``; returns the `History`.

    Parameters
    ----------
    net : a module with ``loss(batch: dict[str, Tensor]) -> scalar Tensor``. It is moved to the
        device and left there, in eval mode, holding the best weights (or the last ones without
        ``validate``).
    batches : ``batches(rng)`` is called once per epoch with ``np.random.default_rng([seed, epoch])``
        and yields dicts of CPU tensors (shuffle with ``rng``); the loop moves them to the device.
    n_epochs : the number of epochs to run (in total, counting those of a resumed checkpoint).
    lr, weight_decay : the step size and the weight decay (decoupled for AdamW, an L2 term added
        to the gradient for Adam and SGD).
    optimizer : "adamw" (the default), "adam" or "sgd" (plain stochastic gradient descent, no
        momentum: one step on one example is the textbook update, as matrix factorisation uses).
    validate : ``validate(net) -> float``, higher is better (e.g. `validation_ndcg`); called after
        every epoch with the net in eval mode under ``torch.no_grad()``.
    patience : stop after this many epochs without a better validation value (needs ``validate``);
        None trains all ``n_epochs``. The best weights are restored at the end either way.
    clip : the largest gradient norm (all parameters together); None turns clipping off.
    device : "auto" (CUDA, then Apple MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
    amp : on CUDA, run the forward pass under bf16 autocast (ignored on CPU and MPS).
    checkpoint : a file rewritten (atomically) after every epoch with the weights, the optimizer,
        the random state, the history, the best weights so far and the settings above.
    resume : continue from ``checkpoint`` when the file exists (start afresh when it does not). The
        file must continue this very run: same net (keys and shapes), optimizer, lr, weight_decay,
        clip, seed and patience, and at most ``n_epochs`` epochs done; otherwise a ValueError
        names the file, the setting, both values and the fix.
    seed : seeds torch's random generator (dropout, sampling inside ``loss``) and the per-epoch rng.
    progress : show a tqdm bar over epochs with the loss and validation metric.
    name : a label for the progress bar, the errors and the plot.

    Under ``torchrun`` (WORLD_SIZE > 1) the same call trains with DistributedDataParallel, each
    process on its slice of every batch; see the module docstring for what changes.

    Raises
    ------
    FloatingPointError
        When a batch gives a NaN or infinite loss; the message names the epoch and the batch.
    ValueError
        When ``resume`` meets a checkpoint that is unreadable or does not continue this run; under
        DDP, when a batch has fewer rows than there are processes.

    Examples
    --------
    >>> history = fit_net(net, lambda rng: [{"x": x, "y": y}], n_epochs=5)   # doctest: +SKIP
    >>> history.frame[["epoch", "loss"]]                                      # doctest: +SKIP
    """
    if not isinstance(n_epochs, (int, np.integer)) or isinstance(n_epochs, bool) or n_epochs < 1:
        raise ValueError(f"n_epochs={n_epochs!r} must be a positive int.")
    if not callable(getattr(net, "loss", None)):
        raise TypeError(f"{type(net).__name__} has no loss(batch) method; fit_net trains by calling net.loss(batch).")
    if patience is not None and (validate is None or patience < 1):
        raise ValueError(f"patience={patience!r} needs a validate function and must be >= 1 "
                         "(or None to train all epochs).")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip={clip!r} must be a positive gradient norm, or None for no clipping.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is not supported; use one of {sorted(OPTIMIZERS)}.")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<the file to resume from>.")
    parts = world_size()
    dev = _distributed_device(device) if parts > 1 else pick_device(device)
    part, main = (rank(), is_main_process()) if parts > 1 else (0, True)
    label = name or type(net).__name__
    net.to(dev)
    trained = [p for p in net.parameters() if p.requires_grad]
    opt = OPTIMIZERS[optimizer](trained, lr=lr, weight_decay=weight_decay)
    rows: list[dict] = []
    best = {"epoch": None, "value": None, "state": None}
    bad_epochs, stopped, start = 0, False, 1
    torch.manual_seed(seed if part == 0 else _rank_seed(seed, part))

    settings = {"optimizer": optimizer, "lr": float(lr), "weight_decay": float(weight_decay),
                "clip": None if clip is None else float(clip), "seed": int(seed),
                "patience": None if patience is None else int(patience)}
    found = resume and Path(checkpoint).exists()
    if resume and parts > 1:
        dist.barrier()  # the file is complete: every process returns from fit_net after the last write
        seen = [None] * parts
        dist.all_gather_object(seen, found)
        if any(seen) and not all(seen):
            raise ValueError(f"checkpoint {checkpoint} exists for process(es) {[r for r in range(parts) if seen[r]]} "
                             f"but not for {[r for r in range(parts) if not seen[r]]}: process 0 writes it, and "
                             f"every process reads it; put it on a file system all machines share.")
    if found:
        state = _load_checkpoint(checkpoint, net, settings, n_epochs)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if dev.type == "cuda" and state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if parts > 1:
            own = state.get("rank_rng") or []
            if len(own) == parts:  # the same number of processes: each continues its own streams
                torch.set_rng_state(own[part]["torch"])
                if dev.type == "cuda" and own[part]["cuda"] is not None:
                    torch.cuda.set_rng_state(own[part]["cuda"], dev)
            elif part > 0:  # another number of processes: fresh streams, derived from the epoch reached
                torch.manual_seed(_rank_seed(seed, part, int(state["epoch"])))
        rows = [dict(zip(_COLUMNS, values)) for values in zip(*(state["history"][c] for c in _COLUMNS))]
        best = {"epoch": state["best_epoch"], "value": state["best_value"], "state": state["best_net"]}
        bad_epochs, stopped, start = state["bad_epochs"], state["stopped"], state["epoch"] + 1

    # after the resume, so the weights it broadcasts from process 0 are the resumed ones;
    # static_graph: a net may leave a parameter out of its loss (fit_net knows no model); DDP finds
    # which in the first step, without find_unused_parameters' graph traversal at every step
    model = net if parts == 1 else DistributedDataParallel(
        _LossOf(net), device_ids=[dev.index] if dev.type == "cuda" else None, static_graph=True)
    forward = net.loss if parts == 1 else model
    epochs = range(start, n_epochs + 1) if not stopped else range(0)
    bar = _progress(len(epochs), progress and main, label)
    for epoch in epochs:
        model.train()
        tic, total, count = time.perf_counter(), 0.0, 0
        for b, batch in enumerate(batches(np.random.default_rng([seed, epoch]))):
            if parts > 1:
                batch = _shard(batch, part, parts, label, epoch, b)
            batch = {k: v.to(dev, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp and dev.type == "cuda"):
                loss = forward(batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"{label}: the loss is {value} at epoch {epoch}, batch {b}; lower lr (now {lr}), "
                    "keep clip on, or check the batch for out-of-range ids."
                )
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(trained, clip)
            opt.step()
            total, count = total + value, count + 1
        if count == 0:
            raise ValueError(f"{label}: batches(rng) yielded no batch at epoch {epoch}; check the training data.")
        if parts > 1:  # the mean over processes (each process saw its slice of every batch)
            summed = torch.tensor([total], dtype=torch.float64, device=dev)
            dist.all_reduce(summed)
            total = float(summed.item()) / parts
        seconds = time.perf_counter() - tic

        metric, tic = float("nan"), time.perf_counter()
        if validate is not None:
            net.eval()
            if main:  # validation is not split: one process scores, the others wait at the broadcast
                with torch.no_grad():
                    metric = float(validate(net))
            if parts > 1:
                metric = _broadcast_float(metric, dev)
            if best["value"] is None or metric > best["value"]:  # NaN never improves
                best = {"epoch": epoch, "value": metric, "state": _cpu_copy(net.state_dict())}
                bad_epochs = 0
            else:
                bad_epochs += 1
            stopped = patience is not None and bad_epochs >= patience
        rows.append({"epoch": epoch, "loss": total / count, "valid": metric, "seconds": seconds,
                     "valid_seconds": time.perf_counter() - tic})
        if bar is not None:
            bar.set_postfix(loss=f"{total / count:.4f}", valid=f"{metric:.4f}", refresh=False)
            bar.update(1)
            if stopped:  # early stopping: the bar ends full (done), not red as a run cut short
                done, start = bar.n, bar.start_t
                bar.reset(total=done)  # resets the widget's length too, and the count and clock:
                bar.start_t = start  # keep the elapsed time
                bar.update(done)
        if checkpoint is not None:
            rank_rng = None
            if parts > 1:
                rank_rng = [None] * parts
                dist.all_gather_object(rank_rng, _rng_state(dev))
            if main:
                _save(checkpoint, net, opt, dev, rows, best, bad_epochs, stopped, epoch, settings, rank_rng)
        if stopped:
            break

    if bar is not None:
        bar.close()
    if parts > 1 and checkpoint is not None:
        dist.barrier()  # the last checkpoint is on disk before any process goes on (and may read it)
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    net.eval()
    frame = pd.DataFrame(rows, columns=_COLUMNS).astype({"epoch": int})
    return History(frame, best["epoch"], best["value"], stopped and len(frame) < n_epochs, label)


@functools.wraps(_fit_net)
def fit_net(*args, **kwargs) -> "History":
    # torch's global random state (the learner's own torch.manual_seed stream) is left as it was:
    # the loop seeds and uses a forked copy of it
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []):
        return _fit_net(*args, **kwargs)


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _save(path, net, optimizer, dev, rows, best, bad_epochs, stopped, epoch, settings, rank_rng=None) -> None:
    """Write the checkpoint to a temporary file, then rename: a crash never leaves half a file."""
    state = {
        "epoch": epoch,
        "net": _cpu_copy(net.state_dict()),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if dev.type == "cuda" else [],
        "history": {c: [float(r[c]) for r in rows] for c in _COLUMNS},
        "best_epoch": best["epoch"],
        "best_value": best["value"],
        "best_net": best["state"],
        "bad_epochs": bad_epochs,
        "stopped": stopped,
        "settings": settings,
        "rank_rng": rank_rng,  # under DDP, every process's random state (process 0's is torch_rng too)
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


_KEYS = ("epoch", "net", "optimizer", "torch_rng", "cuda_rng", "history", "best_epoch", "best_value",
         "best_net", "bad_epochs", "stopped")


def _load_checkpoint(path, net: torch.nn.Module, settings: dict, n_epochs: int) -> dict:
    """The checkpoint at ``path``, after checking that it continues this run (see the module docstring)."""
    fresh = "pass a new checkpoint path to start a new run"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, random bytes, a pickle weights_only refuses, a folder, ...
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"checkpoint {path} cannot be read as a fit_net checkpoint ({type(error).__name__}: "
                         f"{first}); it is truncated or another kind of file: {fresh}, or delete it.") from error
    missing = [key for key in _KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ValueError(f"{path} is a torch file but not a fit_net checkpoint (it lacks {missing}); {fresh}.")
    saved = state.get("settings")
    if saved is None:
        warnings.warn(f"checkpoint {path} was written by an older reclab and does not record its settings; "
                      f"resuming without checking that optimizer, lr, weight_decay, clip, seed and patience "
                      f"match {settings}.", stacklevel=3)
    else:
        for name, value in settings.items():
            if saved.get(name) != value:
                raise ValueError(
                    f"checkpoint {path} was written with {name}={saved.get(name)!r}, but this call has "
                    f"{name}={value!r}; resuming would silently continue with the checkpoint's state. Pass "
                    f"{name}={saved.get(name)!r} to continue that run, or {fresh}."
                )
    if state["epoch"] > n_epochs:
        raise ValueError(f"checkpoint {path} has already trained {state['epoch']} epochs, but n_epochs={n_epochs}; "
                         f"n_epochs counts all epochs, those of the checkpoint included: pass "
                         f"n_epochs>={state['epoch']}, or {fresh}.")
    mine = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    for part in ("net", "best_net"):
        if part == "best_net" and state[part] is None:
            continue
        theirs = {k: tuple(v.shape) for k, v in state[part].items()} if isinstance(state[part], dict) else {}
        if theirs != mine:
            differ = sorted(set(mine) ^ set(theirs)) or [k for k in mine if mine[k] != theirs[k]]
            key = differ[0]
            raise ValueError(
                f"checkpoint {path} holds another net: {key} is {theirs.get(key, 'missing')} there and "
                f"{mine.get(key, 'missing')} here ({len(differ)} tensor(s) differ); it was written for another "
                f"model or other sizes: {fresh}."
            )
    return state


def _progress(total: int, show: bool, label: str):
    """A tqdm bar over ``total`` epochs (a widget in Jupyter, text elsewhere), or None."""
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="epoch")


def validation_ndcg(model, train, valid, *, k: int = 10, users: np.ndarray | None = None) -> float:
    """NDCG@k of ``model.score`` on ``valid``, ranking the full catalogue with ``train`` masked.

    ``evaluate(model, split, part="valid")``'s NDCG, as one call. A fit that validates every epoch
    should build one `reclab.evaluation.Evaluator` and call it instead: this function prepares the
    masks anew each time.

    Parameters
    ----------
    model : anything with ``score(users) -> (len(users), n_items)``.
    train, valid : `Interactions` on the same ids; each user's valid items are the relevant ones.
    k : the cut-off.
    users : the users to evaluate (default: everyone with a validation item not seen in train).

    Examples
    --------
    >>> fit_net(net, batches, n_epochs=50, patience=5,
    ...         validate=lambda net: validation_ndcg(model, split.train, split.valid))  # doctest: +SKIP
    """
    from .evaluation import Evaluator

    evaluator = Evaluator(train, valid, k=k, metrics=("NDCG",))
    if users is not None:
        evaluator.users = np.asarray(users)
    return evaluator(model)
