"""Shared fixtures. `loopback`: 127.0.0.1 usable, even inside `unshare -n` (loopback starts down)."""
from __future__ import annotations

import fcntl
import socket
import struct

import pytest

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1  # from <linux/sockios.h> and <net/if.h>


def _can_bind() -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 0))
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
    """The loopback address, brought up first if binding it fails (as root in a network namespace)."""
    if not _can_bind():
        try:
            _bring_lo_up()
        except OSError as error:
            pytest.fail(f"127.0.0.1 cannot be bound and the loopback interface cannot be brought up "
                        f"({error}); run as root inside the namespace, or `ip link set lo up` first.")
        assert _can_bind(), "loopback is up but 127.0.0.1 still cannot be bound"
    return "127.0.0.1"
