"""Refuse every network connection that does not stay on this machine.

Tests and the worker processes they start call ``allow_loopback_only()`` so that a stray
call to a real provider (or anything else) fails loudly instead of hanging or, worse,
reaching it. Loopback (127.0.0.0/8, ::1, localhost) and Unix sockets stay allowed.
"""

from __future__ import annotations

import ipaddress
import socket

_installed = False


class NetworkBlockedError(RuntimeError):
    """Raised for a connection to an address beyond loopback."""


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def allow_loopback_only() -> None:
    """Patch the socket module so non-loopback connects and look-ups raise."""
    global _installed
    if _installed:
        return
    _installed = True
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _is_loopback(host):
                raise NetworkBlockedError(f"network beyond loopback is blocked in tests: {host!r}")

    def guarded_connect(self: socket.socket, address: object) -> None:
        check(self, address)
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        if host is not None and not _is_loopback(host if isinstance(host, str) else None):
            if not (isinstance(host, bytes) and _is_loopback(host.decode())):
                raise NetworkBlockedError(f"name look-up beyond loopback is blocked in tests: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
