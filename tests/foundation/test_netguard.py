from __future__ import annotations

import socket

import pytest

from embassy.netguard import NetworkBlockedError


def test_it_blocks_connections_beyond_loopback():
    with pytest.raises(NetworkBlockedError):
        socket.create_connection(("93.184.216.34", 443), timeout=1)


def test_it_blocks_name_lookups_of_real_hosts():
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo("api.twilio.com", 443)


def test_it_allows_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        client = socket.create_connection(server.getsockname(), timeout=1)
        client.close()
    finally:
        server.close()
