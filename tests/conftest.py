"""Shared fixtures. `loopback`: 127.0.0.1 usable, even inside `unshare -n` (loopback starts down);
`cache`: an empty cache folder for the download tests; `one_thread`, `two_threads`: torch on that
many threads for one test, restored after it."""
from __future__ import annotations

import contextlib
import fcntl
import socket
import struct

import pytest

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1  # from <linux/sockios.h> and <net/if.h>


def _works() -> bool:
    """Bind, listen and connect: with loopback down the bind may succeed and the connect fail."""
    with socket.socket() as server, socket.socket() as client:
        try:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            client.settimeout(2)
            client.connect(server.getsockname())
        except OSError:
            return False
    return True


def _bring_lo_up() -> None:
    """``ip link set lo up`` without the ip tool: the SIOCSIFFLAGS ioctl on a struct ifreq."""
    ifreq = "16sH22x"  # ifr_name[16], ifr_flags, padding to sizeof(struct ifreq) == 40
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack(ifreq, fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(ifreq, b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(ifreq, b"lo", flags | IFF_UP))


@pytest.fixture(scope="session")
def loopback() -> str:
    """The loopback address, brought up first if connecting to it fails (as root in a network namespace)."""
    if not _works():
        try:
            _bring_lo_up()
        except OSError as error:
            pytest.fail(f"127.0.0.1 cannot be reached and the loopback interface cannot be brought up "
                        f"({error}); run as root inside the namespace, or `ip link set lo up` first.")
        assert _works(), "loopback is up but 127.0.0.1 still refuses connections"
    return "127.0.0.1"


@pytest.fixture
def cache(tmp_path):
    """An empty, existing cache folder (``cache_dir=`` must name an existing folder)."""
    folder = tmp_path / "cache"
    folder.mkdir()
    return folder


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch  # here, so that test files without torch do not pay for importing it

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    with _torch_threads(1):
        yield


@pytest.fixture
def two_threads():
    with _torch_threads(2):
        yield
