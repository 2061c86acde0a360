"""Basic serving: methods, errors, IPv6 loopback, many short connections."""

import socket
import threading
import time

import pytest

from conftest import HttpConn, free_ports, http_get, server_status_auto


def _has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def test_get_head_404(apache):
    r = http_get(apache.port, "/")
    assert r.status == 200 and b"e2e index" in r.body
    with HttpConn(apache.port) as c:
        r = c.request("/small.txt", method="HEAD")
        assert r.status == 200 and r.header("content-length") == "6" and r.body == b""
        r = c.request("/does-not-exist")
        assert r.status == 404
        r = c.request("/small.txt")
        assert r.body == b"small\n"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_loopback_listener(apache_factory):
    v6port = free_ports(1, "::1")[0]
    srv = apache_factory(extra="Listen [::1]:%d" % v6port)
    r = http_get(v6port, "/small.txt", ip="::1")
    assert r.status == 200 and r.body == b"small\n"
    assert http_get(srv.port, "/small.txt").status == 200


@pytest.mark.slow
def test_many_short_connections_concurrently(apache_factory):
    """8 threads x 250 requests, one connection per request."""
    srv = apache_factory()
    errors, counts = [], [0] * 8
    deadline = time.monotonic() + 60

    def worker(i):
        for _ in range(250):
            if time.monotonic() > deadline:
                errors.append("deadline")
                return
            try:
                r = http_get(srv.port, "/small.txt", timeout=5)
                if r.status != 200 or r.body != b"small\n":
                    errors.append("bad response %r" % r)
                    return
                counts[i] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(70)
    assert not errors, errors[:5]
    assert sum(counts) == 2000
    st = server_status_auto(srv.port)
    assert st["Total Accesses"] >= 2000, st
