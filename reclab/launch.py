"""Start the command line, torchrun and the service from Python, as a terminal would (notebook 11).

`run` runs one command (``reclab ...``, or ``torchrun ...`` built by `torchrun`) in a folder, with
a deadline, and returns what it printed; `Service` starts ``reclab serve`` on a free loopback port,
waits until it answers ``/health``, talks to it with httpx and stops it (also when the Python
process that started it exits). They exist so that a notebook can show the real processes with
short cells; nothing here is needed to use the command line or the service themselves.
"""
from __future__ import annotations

import atexit
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Ran", "Service", "reclab", "run", "torchrun"]

# torchrun's own notice about OMP_NUM_THREADS: said once per launch, and not about the job
_TORCHRUN_NOISE = re.compile(r"^(W\d{4} .*|\*+|Setting OMP_NUM_THREADS.*)$")


def reclab(*args: str) -> list[str]:
    """The command ``reclab ARGS...`` run with this Python (so it is the package installed here)."""
    return [sys.executable, "-m", "reclab", *map(str, args)]


def torchrun(*args: str, nproc_per_node: int = 2) -> list[str]:
    """``torchrun --standalone --nproc_per_node N -m reclab ARGS...`` with this Python.

    ``--standalone`` runs the rendezvous on this machine (one node); see `reclab.train` for the
    command on several machines.
    """
    if int(nproc_per_node) < 1:
        raise ValueError(f"nproc_per_node={nproc_per_node!r} must be at least 1.")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            str(int(nproc_per_node)), "-m", "reclab", *map(str, args)]


def _shown(command: list[str]) -> str:
    """How a person would type ``command``: ``reclab ...`` or ``torchrun ...``, without this machine's paths."""
    words = list(command)
    if words[:3] == [sys.executable, "-m", "torch.distributed.run"]:
        words = ["torchrun", *words[3:]]
    elif words[:3] == [sys.executable, "-m", "reclab"]:
        words = ["reclab", *words[3:]]
    return shlex.join(words)


@dataclass
class Ran:
    """What a command did: its exit status and what it printed on stdout and stderr."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return "\n".join([f"$ {self.command}", *self.lines(), f"(exit status {self.returncode})"])

    def lines(self) -> list[str]:
        """stdout, then stderr without torchrun's notice about OMP_NUM_THREADS."""
        err = [line for line in self.stderr.splitlines() if not _TORCHRUN_NOISE.match(line.strip())]
        return [*self.stdout.splitlines(), *err]


def _child_env(extra: dict | None = None) -> dict:
    """This process's environment, one torch thread per child (as torchrun sets), unbuffered output."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(extra or {})}


def run(command: list[str], *, cwd: str | os.PathLike = ".", timeout: float = 600, env: dict | None = None) -> Ran:
    """Run ``command`` in ``cwd`` and return a `Ran` (print it to show the session).

    The child gets one torch thread per process (``OMP_NUM_THREADS=1``, as torchrun sets) unless
    ``env`` says otherwise. A command that outlives ``timeout`` seconds is killed and raises
    TimeoutError naming it.

    Examples
    --------
    >>> print(run(reclab("recommend", "ease.npz", "--user", "0", "-k", "3")))   # doctest: +SKIP
    $ reclab recommend ease.npz --user 0 -k 3
    ...
    """
    if not Path(cwd).is_dir():
        raise FileNotFoundError(f"cwd={str(cwd)!r} is not a folder; create it first or pass another.")
    try:
        done = subprocess.run(command, cwd=cwd, env=_child_env(env), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"`{_shown(command)}` did not finish within timeout={timeout} s; "
                           "pass a larger timeout or a smaller job.") from None
    return Ran(_shown(command), done.returncode, done.stdout, done.stderr)


_ADDRESS = re.compile(r"serving \S+ on (http://\S+)")


class Service:
    """``reclab serve MODEL --port 0`` in a child process, and an httpx client for it.

    Parameters
    ----------
    model_file : a file written by ``reclab train`` (relative to ``cwd``).
    cwd : the folder to start in.
    timeout : seconds to wait for the service to listen and answer ``/health``.

    Examples
    --------
    >>> service = Service("ease.npz")                              # doctest: +SKIP
    >>> service.post("/recommend", {"user": 0, "k": 3}).json()      # doctest: +SKIP
    {'items': [...]}
    >>> service.stop()                                              # doctest: +SKIP
    """

    def __init__(self, model_file: str | os.PathLike, *, cwd: str | os.PathLike = ".", timeout: float = 60,
                 args: tuple[str, ...] = ()):
        import httpx

        if not (Path(cwd) / model_file).is_file():
            raise FileNotFoundError(f"model_file={str(model_file)!r} is not a file in cwd; "
                                    "train one with `reclab train ... --out FILE` first.")
        command = reclab("serve", model_file, "--host", "127.0.0.1", "--port", "0", *args)
        self.command = _shown(command)
        self._process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, env=_child_env())
        atexit.register(self.stop)  # never leave a server behind the notebook's kernel
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        self.url, said, deadline = None, [], time.monotonic() + timeout
        while self.url is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline:  # it exited, or it is too slow
                self.stop()
                why = "exited" if line is None else f"did not start within timeout={timeout} s"
                raise RuntimeError(f"`{self.command}` {why}; it said: {' '.join(said)[-500:] or 'nothing'}")
            said.append(line.strip())
            match = _ADDRESS.search(line)
            if match:
                self.url = match.group(1)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.get("/health")  # listening is not answering: wait for the first real answer

    def _read(self, lines: queue.Queue) -> None:
        for line in self._process.stdout:
            lines.put(line)
        lines.put(None)

    def get(self, path: str):
        """``GET path``; the httpx response."""
        return self.client.get(path)

    def post(self, path: str, body: dict):
        """``POST path`` with the JSON ``body``; the httpx response."""
        return self.client.post(path, json=body)

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> int | None:
        """Stop the service (SIGTERM, then SIGKILL after 10 s); its exit status."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if getattr(self, "client", None) is not None:
            self.client.close()
        return self._process.returncode

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
