"""Keep-alive, pipelining and KeepAliveTimeout (global and per vhost)."""

import threading
import time

import pytest

from conftest import ConnectionClosed, HttpConn, build_request, http_get, wait_for


def test_1000_requests_on_one_keepalive_connection(apache_factory):
    srv = apache_factory(max_keepalive_requests=0, keepalive_timeout=5)
    n = 1000
    deadline = time.monotonic() + 60
    with HttpConn(srv.port, timeout=5) as c:
        local_port = c.sock.getsockname()[1]
        for i in range(n):
            assert time.monotonic() < deadline, "1000 requests took more than 60 s"
            path = "/small.txt" if i % 2 else "/index.html"
            try:
                r = c.request(path)
            except ConnectionClosed:
                pytest.fail("server closed the keep-alive connection after %d requests" % i)
            assert r.status == 200, "request %d: %r" % (i, r)
            assert r.header("connection", "").lower() != "close", \
                "request %d announced Connection: close" % i
        # Still the same, still-open socket: one more request works.
        r = c.request("/small.txt")
        assert r.status == 200 and r.body == b"small\n"
    # The access log shows every request on one client port, with the
    # keep-alive request counter (%k) running 0..n.
    # (the last line may be written just after the response was sent)
    def mine():
        return [l for l in (x.split() for x in srv.access_lines())
                if l[1] == str(local_port)]
    wait_for(lambda: len(mine()) >= n + 1, 5)
    mine = mine()
    assert len(mine) == n + 1, "expected %d log lines for client port %d, got %d" % (
        n + 1, local_port, len(mine))
    ks = [int(l[2]) for l in mine]
    assert ks == list(range(n + 1)), "keep-alive counters not 0..%d: %s..." % (n, ks[:10])


def test_max_keepalive_requests_closes_connection(apache_factory):
    # MaxKeepAliveRequests 5: the first request plus 5 keep-alive requests.
    srv = apache_factory(max_keepalive_requests=5)
    with HttpConn(srv.port, timeout=5) as c:
        for i in range(5):
            r = c.request("/small.txt")
            assert r.status == 200
            assert r.header("connection", "").lower() != "close", (i, r.headers)
        r = c.request("/small.txt")
        assert r.status == 200
        assert r.header("connection", "").lower() == "close", r.headers
        assert c.wait_eof(3) is not None, "connection not closed after MaxKeepAliveRequests"


def test_pipelined_requests_answered_in_order(apache_factory):
    files = {"a.txt": b"A" * 10, "b.txt": b"B" * 200000, "c.txt": b"C" * 30}
    srv = apache_factory(files=files, keepalive_timeout=5)
    with HttpConn(srv.port, timeout=4) as c:
        t0 = time.monotonic()
        c.send(b"".join(build_request("/%s" % n) for n in ("a.txt", "b.txt", "c.txt")))
        got = [c.read_response() for _ in range(3)]
        elapsed = time.monotonic() - t0
    assert [r.status for r in got] == [200, 200, 200]
    assert [r.body for r in got] == [files["a.txt"], files["b.txt"], files["c.txt"]]
    assert elapsed < 2.0, "pipelined responses took %.2fs (waited for a timeout?)" % elapsed


def test_pipelined_requests_with_close_last(apache_factory):
    srv = apache_factory(keepalive_timeout=5)
    with HttpConn(srv.port, timeout=4) as c:
        t0 = time.monotonic()
        c.send(build_request("/small.txt") + build_request("/index.html")
               + build_request("/small.txt", close=True))
        got = [c.read_response() for _ in range(3)]
        eof = c.wait_eof(3)
        elapsed = time.monotonic() - t0
    assert [r.status for r in got] == [200, 200, 200]
    assert got[1].body.startswith(b"<html>")
    assert eof is not None, "server did not close after Connection: close"
    assert elapsed < 2.0, elapsed


def _idle_close_time(port, host="localhost", wait=8.0):
    """Do one request, then time how long until the server closes."""
    with HttpConn(port, timeout=5) as c:
        r = c.request("/small.txt", host=host)
        assert r.status == 200
        return c.wait_eof(wait)


def test_keepalive_timeout_closes_idle_connection(apache_factory):
    srv = apache_factory(keepalive_timeout=2)
    t = _idle_close_time(srv.port)
    assert t is not None, "idle connection not closed within 8 s (KeepAliveTimeout 2)"
    assert 1.5 <= t <= 3.5, "closed after %.2fs, expected about 2s" % t


def _vhost_conf(srv):
    main, ipv, named = srv.ports
    return "\n".join([
        # IP/port based vhost with its own, shorter KeepAliveTimeout
        "<VirtualHost 127.0.0.1:%d>" % ipv,
        "    ServerName ip.test",
        "    KeepAliveTimeout 1",
        "</VirtualHost>",
        # name based vhosts on a third port: a.test inherits 3 s, b.test has 1 s
        "<VirtualHost 127.0.0.1:%d>" % named,
        "    ServerName a.test",
        "</VirtualHost>",
        "<VirtualHost 127.0.0.1:%d>" % named,
        "    ServerName b.test",
        "    KeepAliveTimeout 1",
        "</VirtualHost>",
    ])


@pytest.mark.slow
def test_keepalive_timeout_per_vhost(apache_factory):
    srv = apache_factory(nports=3, keepalive_timeout=3, extra=_vhost_conf)
    main, ipv, named = srv.ports
    cases = {
        "main": (main, "localhost", (2.5, 4.5)),
        "ip-vhost": (ipv, "ip.test", (0.6, 2.0)),
        "name-vhost-inherit": (named, "a.test", (2.5, 4.5)),
        "name-vhost-own": (named, "b.test", (0.6, 2.0)),
    }
    results = {}

    def run(name, port, host):
        try:
            results[name] = _idle_close_time(port, host)
        except Exception as e:  # noqa: BLE001
            results[name] = e

    threads = [threading.Thread(target=run, args=(k, v[0], v[1])) for k, v in cases.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    for name, (_port, _host, (lo, hi)) in cases.items():
        t = results.get(name)
        assert not isinstance(t, Exception), "%s: %r" % (name, t)
        assert t is not None, "%s: not closed within 8 s" % name
        assert lo <= t <= hi, "%s: closed after %.2fs, expected in [%s, %s]; all: %s" % (
            name, t, lo, hi, results)


def test_keepalive_off_closes_after_response(apache_factory):
    srv = apache_factory(extra="KeepAlive Off")
    with HttpConn(srv.port, timeout=5) as c:
        r = c.request("/small.txt")
        assert r.status == 200
        assert c.wait_eof(2) is not None, "KeepAlive Off but connection stayed open"


def test_http10_without_keepalive_closes(apache):
    with HttpConn(apache.port, timeout=5) as c:
        c.send(b"GET /small.txt HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"small\n"
        assert c.wait_eof(2) is not None
    assert http_get(apache.port, "/small.txt").status == 200
