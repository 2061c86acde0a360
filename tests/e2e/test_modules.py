"""Other stock modules under the MPM: mod_deflate, mod_reqtimeout,
mod_proxy_http (to a backend the test starts), mod_rewrite, and a piped
logger (mod_log_config) that the parent restarts when it dies."""

import gzip
import os
import random
import signal
import socket
import textwrap
import threading
import time

from backends import start_python_backend, stop_process
from conftest import (HttpConn, free_ports, http_get, seen_dead, wait_for,
                      write_file)


def _text(n, seed=7):
    """n bytes of compressible text (words from a small vocabulary)."""
    rnd = random.Random(seed)
    words = [b"apache", b"hybrid", b"event", b"listener", b"worker", b"deflate",
             b"keep-alive", b"gzip", b"stream", b"socket", b"\n"]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words) + b" "
    return bytes(out[:n])


def _client_ports(srv, path_prefix):
    """(remote port, keep-alive count) of access-log lines for paths under
    path_prefix (format "%h %{remote}p %k %>s %B %U")."""
    out = []
    for line in srv.access_lines():
        parts = line.split()
        if len(parts) == 6 and parts[5].startswith(path_prefix):
            out.append((int(parts[1]), int(parts[2]), int(parts[3])))
    return out


# --------------------------------------------------------------------------
# mod_deflate
# --------------------------------------------------------------------------

def test_deflate_gzip_decodes_to_original_with_keepalive(apache_factory):
    small, big = _text(20000, 1), _text(600000, 2)
    srv = apache_factory(modules=("filter", "deflate"),
                         files={"t/small.txt": small, "t/big.txt": big},
                         extra="AddOutputFilterByType DEFLATE text/plain\n")
    c = HttpConn(srv.port, timeout=10)
    try:
        for _ in range(3):
            for name, want in (("small", small), ("big", big)):
                r = c.request("/t/%s.txt" % name, headers={"Accept-Encoding": "gzip"})
                assert r.status == 200, r
                assert r.header("content-encoding") == "gzip", r.headers
                assert len(r.body) < len(want) // 2, "not compressed: %d bytes" % len(r.body)
                assert gzip.decompress(r.body) == want, name
        # a client that does not accept gzip gets the identity body
        r = c.request("/t/small.txt")
        assert r.status == 200 and r.header("content-encoding") is None, r.headers
        assert r.body == small
    finally:
        c.close()
    lines = wait_for(lambda: len(_client_ports(srv, "/t/")) == 7 and _client_ports(srv, "/t/"), 5)
    assert lines, srv.access_lines()
    assert len({port for port, _, _ in lines}) == 1, "not one keep-alive connection: %s" % lines
    assert [ka for _, ka, _ in lines] == list(range(7)), lines


# --------------------------------------------------------------------------
# mod_rewrite
# --------------------------------------------------------------------------

REWRITE = """RewriteEngine On
RewriteRule "^/old/(.*)$" "/new/$1" [PT]
RewriteRule "^/moved/(.*)$" "/new/$1" [R=301,L]
"""


def test_rewrite_internal_rule_and_redirect(apache_factory):
    srv = apache_factory(modules=("rewrite",), extra=REWRITE,
                         files={"new/page.txt": b"rewritten\n"})
    with HttpConn(srv.port, timeout=10) as c:
        r = c.request("/old/page.txt")
        assert r.status == 200 and r.body == b"rewritten\n", r
        host = "localhost:%d" % srv.port
        r = c.request("/moved/page.txt", host=host)
        assert r.status == 301, r
        assert r.header("location") == "http://%s/new/page.txt" % host, r.headers
        r = c.request("/new/page.txt")         # same connection, still usable
        assert r.status == 200 and r.body == b"rewritten\n", r
        assert c.request("/old/missing.txt").status == 404


# --------------------------------------------------------------------------
# mod_proxy_http
# --------------------------------------------------------------------------

BACKEND = textwrap.dedent("""
    import sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def _send(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def do_GET(self):
            self._send(("backend got %s\\n" % self.path).encode())
        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            self._send(self.rfile.read(n))
        def log_message(self, *a):
            pass
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
    threading.Timer(float(sys.argv[2]), srv.shutdown).start()   # bounded life
    srv.serve_forever()
""")


def test_proxy_http_to_local_backend(apache_factory):
    be_port = free_ports(1)[0]
    backend = start_python_backend(BACKEND, be_port)
    try:
        srv = apache_factory(modules=("proxy", "proxy_http"),
                             extra='ProxyPass "/be/" "http://127.0.0.1:%d/"\n' % be_port)
        # one keep-alive client connection, GETs and POSTs through the proxy
        with HttpConn(srv.port, timeout=10) as c:
            for i in range(20):
                r = c.request("/be/item%d" % i)
                assert r.status == 200 and r.body == b"backend got /item%d\n" % i, r
                body = b"posted %d " % i * 300
                r = c.request("/be/echo", method="POST", body=body)
                assert r.status == 200 and r.body == body, r
        lines = wait_for(lambda: len(_client_ports(srv, "/be/")) == 40
                         and _client_ports(srv, "/be/"), 5)
        assert lines, srv.access_lines()
        assert len({p for p, _, _ in lines}) == 1, "not one keep-alive connection: %s" % lines
        assert [ka for _, ka, _ in lines] == list(range(40)), lines

        # concurrent clients: 10 threads x 10 requests, each on its own connection
        errors = []

        def client(k):
            try:
                with HttpConn(srv.port, timeout=10) as cc:
                    for j in range(10):
                        r = cc.request("/be/c%d-%d" % (k, j))
                        if r.status != 200 or r.body != b"backend got /c%d-%d\n" % (k, j):
                            errors.append(repr(r))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(k,)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors[:3]
    finally:
        stop_process(backend)
    # backend gone: the proxy answers 503 and the server keeps serving
    assert wait_for(lambda: http_get(srv.port, "/be/x").status == 503, 5)
    assert http_get(srv.port, "/small.txt").status == 200


# --------------------------------------------------------------------------
# mod_reqtimeout
# --------------------------------------------------------------------------

# AcceptFilter none: with Linux's default TCP_DEFER_ACCEPT the kernel
# holds a silent connection for ~30 s before accept() sees it, so the
# header timeout could not apply to it.
REQTIMEOUT = """RequestReadTimeout header=2 body=2
AcceptFilter http none
<Location /echo>
    SetHandler reflector
</Location>
"""


def _trickle(port, first, interval=0.25, limit=10.0):
    """Send `first`, then one more byte every `interval` s (a header line or
    body that never ends) until the server answers or closes, at most
    `limit` s.  Returns (seconds until the server answered or closed,
    bytes received); seconds is None when the server did neither."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    got = b""
    try:
        t0 = time.monotonic()
        if first:
            s.sendall(first)
        s.settimeout(interval)
        while time.monotonic() - t0 < limit:
            try:
                d = s.recv(65536)
                if not d:
                    return time.monotonic() - t0, got
                got += d
                if b"\r\n\r\n" in got:
                    # answered: read to the close (bounded by the timeout)
                    s.settimeout(3)
                    try:
                        while True:
                            d = s.recv(65536)
                            if not d:
                                break
                            got += d
                    except (socket.timeout, ConnectionResetError):
                        pass
                    return time.monotonic() - t0, got
            except socket.timeout:
                pass
            except ConnectionResetError:
                return time.monotonic() - t0, got
            if first is not None:
                try:
                    s.sendall(b"x")
                except OSError:
                    return time.monotonic() - t0, got
        return None, got
    finally:
        s.close()


def _watch_normal_client(port, stop, worst, errors):
    try:
        with HttpConn(port, timeout=5) as c:
            while not stop.is_set():
                t0 = time.monotonic()
                r = c.request("/small.txt")
                worst[0] = max(worst[0], time.monotonic() - t0)
                if r.status != 200:
                    errors.append(repr(r))
                time.sleep(0.05)
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))


def _run_with_normal_client(port, jobs):
    """Run jobs (callables) in threads while a keep-alive client requests
    every 50 ms; returns (job results, worst normal latency, errors)."""
    stop, worst, errors = threading.Event(), [0.0], []
    normal = threading.Thread(target=_watch_normal_client, args=(port, stop, worst, errors))
    normal.start()
    results = [None] * len(jobs)

    def run(i):
        results[i] = jobs[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    try:
        time.sleep(0.2)         # the normal client is going
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        stop.set()
        normal.join(10)
    return results, worst[0], errors


def test_reqtimeout_slow_header_gets_408_others_unaffected(apache_factory):
    srv = apache_factory(modules=("reqtimeout", "reflector"), extra=REQTIMEOUT,
                         max_keepalive_requests=0)
    head = b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
    jobs = [lambda: _trickle(srv.port, head) for _ in range(6)]
    jobs += [lambda: _trickle(srv.port, None) for _ in range(2)]    # silent clients
    results, worst, errors = _run_with_normal_client(srv.port, jobs)
    assert not errors, errors[:3]
    for dt, got in results:
        assert dt is not None, "slow client not cut within 10 s (header=2): %r" % got[:100]
        assert 1.5 <= dt <= 4.0, "slow client cut after %.2f s (header=2)" % dt
        assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:200]
    assert any(got.startswith(b"HTTP/1.1 408") for _, got in results[:6]), results
    assert worst < 0.5, "a normal request took %.2f s next to the slow clients" % worst


def test_reqtimeout_slow_body_is_cut(apache_factory):
    srv = apache_factory(modules=("reqtimeout", "reflector"), extra=REQTIMEOUT,
                         max_keepalive_requests=0)
    body = _text(50000, 3)
    # a fast POST is echoed in full
    with HttpConn(srv.port, timeout=10) as c:
        r = c.request("/echo", method="POST", body=body,
                      headers={"Content-Type": "text/plain"})
        assert r.status == 200 and r.body == body, r
    head = (b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 100000\r\n\r\n" + body[:100])
    results, worst, errors = _run_with_normal_client(
        srv.port, [lambda: _trickle(srv.port, head) for _ in range(3)])
    assert not errors, errors[:3]
    for dt, got in results:
        assert dt is not None, "slow body not cut within 10 s (body=2): %r" % got[:100]
        assert 1.5 <= dt <= 4.0, "slow body cut after %.2f s (body=2)" % dt
        # the reflector streams the echo: a 200 head may come first, but
        # the body is cut short and the connection closed
        _head, _, echoed = got.partition(b"\r\n\r\n")
        assert len(echoed) < 100000, "the slow body was echoed in full"
    assert worst < 0.5, "a normal request took %.2f s next to the slow bodies" % worst
    assert wait_for(lambda: "Request body read timeout" in srv.log_text(), 5), \
        srv.log_text()[-2000:]


# --------------------------------------------------------------------------
# mod_log_config: piped logger restarted by the parent
# --------------------------------------------------------------------------

LOGGER = """#!/usr/bin/python3
import os, sys
with open(sys.argv[1], "a") as out:
    for line in sys.stdin:
        out.write("%d %s" % (os.getpid(), line))
        out.flush()
"""


def _logger_pids(srv, script):
    """Live processes running our logger script whose parent is the server
    parent (the parent starts and restarts piped loggers)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if script.encode() in cmd and fields[0] != "Z" and int(fields[1]) == srv.pid:
            pids.append(pid)
    return pids


def test_piped_logger_is_restarted_and_logging_continues(apache_factory):
    srv = apache_factory(start=False, allow_log=(r"piped log program .* failed",))
    script = os.path.join(srv.root, "logger.py")
    out = os.path.join(srv.root, "piped.log")
    write_file(script, LOGGER, mode=0o755)
    srv.extra = 'CustomLog "||%s %s" "%%U%%q"\n' % (script, out)
    srv.start()

    def logged():
        try:
            with open(out) as f:
                return [l.split(" ", 1) for l in f.read().splitlines()]
        except OSError:
            return []

    def have(tag):
        return [int(pid) for pid, url in logged() if url == "/small.txt?" + tag]

    for i in range(5):
        assert http_get(srv.port, "/small.txt?before%d" % i).status == 200
    assert wait_for(lambda: all(have("before%d" % i) for i in range(5)), 10), logged()
    pids = _logger_pids(srv, script)
    assert len(pids) == 1, pids
    first = pids[0]
    assert {p for i in range(5) for p in have("before%d" % i)} == {first}

    os.kill(first, signal.SIGKILL)
    assert seen_dead(first, 5), "logger %d still running 5 s after SIGKILL" % first
    # requests while the logger is down go into the pipe, which the parent
    # keeps open for the next logger
    for i in range(3):
        assert http_get(srv.port, "/small.txt?during%d" % i).status == 200
    assert wait_for(lambda: [p for p in _logger_pids(srv, script) if p != first], 15), \
        "the parent did not restart the piped logger"
    second = [p for p in _logger_pids(srv, script) if p != first][0]
    for i in range(5):
        assert http_get(srv.port, "/small.txt?after%d" % i).status == 200
    assert wait_for(lambda: all(have("after%d" % i) for i in range(5)), 10), logged()
    assert {p for i in range(5) for p in have("after%d" % i)} == {second}
    assert wait_for(lambda: all(have("during%d" % i) for i in range(3)), 10), logged()
    assert "piped log program" in srv.log_text(), srv.log_text()[-2000:]
