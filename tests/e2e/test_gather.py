"""Slow clients cost no worker: the listener gathers request heads (and TLS
ClientHello records) before a worker is involved.

Slow-header clients (slowloris) are simulated with non-blocking sockets in
one thread: each sends the start of a request head, then one more header
byte per second.  Everything is bounded in count and time and goes to
127.0.0.1 only.
"""

import selectors
import socket
import ssl
import time

import pytest

from conftest import (MPM, HttpConn, apache_t, build_request, http_get,
                      server_status_auto, tls_vhost, wait_for)
from test_config import minimal_conf

TWO_BY_TEN = {"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 10,
              "MaxRequestWorkers": 20, "MinSpareThreads": 5,
              "MaxSpareThreads": 20}
PARTIAL_HEAD = (b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n"
                b"User-Agent: e2e-slow\r\nX-Slow: ")


class SlowClients:
    """n connections that send `first` at once, then one byte per interval,
    until the server answers or closes (recorded with its time)."""

    def __init__(self, port, n, first=PARTIAL_HEAD, interval=1.0, ctx=None):
        self.port, self.n, self.first, self.interval = port, n, first, interval
        self.sel = selectors.DefaultSelector()
        self.socks = {}             # sock -> [t_open, t_closed, first bytes]
        self.connect_failed = 0

    def open(self, deadline_s=20.0):
        t_end = time.monotonic() + deadline_s
        for _ in range(self.n):
            if time.monotonic() > t_end:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5.0)
            try:
                s.connect(("127.0.0.1", self.port))
                s.sendall(self.first)
            except OSError:
                self.connect_failed += 1
                s.close()
                continue
            s.setblocking(False)
            self.socks[s] = [time.monotonic(), None, b""]
            self.sel.register(s, selectors.EVENT_READ)
        return len(self.socks)

    def open_count(self):
        return sum(1 for st in self.socks.values() if st[1] is None)

    def poll(self, seconds):
        """Trickle bytes and watch for answers for `seconds` (bounded)."""
        t_end = time.monotonic() + seconds
        next_send = time.monotonic() + self.interval
        while time.monotonic() < t_end and self.open_count():
            for key, _ in self.sel.select(timeout=min(0.05, self.interval)):
                self._on_readable(key.fileobj)
            if time.monotonic() >= next_send:
                next_send += self.interval
                self._trickle()

    def _on_readable(self, s):
        st = self.socks[s]
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if not st[2] and d:
            st[2] = d[:64]
        if not d or st[2]:
            st[1] = time.monotonic()
            self.sel.unregister(s)

    def _trickle(self):
        for s, st in self.socks.items():
            if st[1] is None:
                try:
                    s.send(b"a")
                except OSError:
                    st[1] = time.monotonic()
                    self.sel.unregister(s)

    def lifetimes(self):
        return [st[1] - st[0] for st in self.socks.values() if st[1] is not None]

    def answers(self):
        return [st[2] for st in self.socks.values() if st[1] is not None]

    def close(self):
        for s in list(self.socks):
            try:
                s.close()
            except OSError:
                pass
        self.sel.close()


def _latency(port, path="/small.txt", timeout=5.0):
    t0 = time.monotonic()
    r = http_get(port, path, timeout=timeout)
    assert r.status == 200
    return time.monotonic() - t0


def _p99(samples):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


@pytest.fixture
def slow_server(apache_factory):
    return apache_factory(mpm=TWO_BY_TEN, modules=("reqtimeout",),
                          extra="RequestReadTimeout header=8 body=20")


def test_slow_headers_hold_no_worker(slow_server):
    """1 000 slowloris clients on 2 x 10 threads: a normal client keeps
    getting answers within 100 ms at p99, server-status shows the clients
    gathering with no worker busy, and the header timeout (8 s) ends them."""
    srv = slow_server
    slow = SlowClients(srv.port, 1000)
    try:
        assert slow.open() >= 990, "could not open the slow connections"
        t_opened = time.monotonic()
        assert wait_for(lambda: server_status_auto(srv.port)
                        .get("ConnsAsyncGathering", 0) >= 950, 10), \
            "server-status does not show the slow clients gathering: %r" % (
                server_status_auto(srv.port),)
        st = server_status_auto(srv.port)
        assert st["BusyWorkers"] <= 2, st
        samples = []
        while time.monotonic() - t_opened < 5.0 and len(samples) < 200:
            samples.append(_latency(srv.port))
            slow.poll(0.02)
        assert len(samples) >= 50
        assert _p99(samples) < 0.100, "p99 %.3f s under slowloris" % _p99(samples)
        slow.poll(12.0)
        lives = slow.lifetimes()
        assert len(lives) >= 990, "only %d slow clients were timed out" % len(lives)
        assert 6.5 <= min(lives) and max(lives) <= 12.0, (min(lives), max(lives))
        assert all(a.startswith(b"HTTP/1.1 408") for a in slow.answers() if a), \
            set(a[:20] for a in slow.answers())
    finally:
        slow.close()
    assert wait_for(lambda: server_status_auto(srv.port)
                    .get("ConnsAsyncGathering", -1) == 0, 10)


def test_slow_headers_starve_workers_without_gathering(apache_factory):
    """The same attack with gathering off (or under event): the workers are
    taken and a normal client gets nothing, which is what the test above
    guards against."""
    extra = "HybridGatherHeads Off" if MPM == "hybrid" else ""
    srv = apache_factory(mpm=TWO_BY_TEN, extra=extra, timeout=10)
    slow = SlowClients(srv.port, 60)
    try:
        assert slow.open() >= 55
        slow.poll(1.0)
        with pytest.raises(OSError):
            http_get(srv.port, "/small.txt", timeout=2.0)
    finally:
        slow.close()
    assert wait_for(lambda: _latency(srv.port, timeout=5.0) < 5.0, 30)


@pytest.mark.parametrize("timeout_conf", ["reqtimeout", "Timeout"])
def test_head_timeout_answers_like_httpd(apache_factory, timeout_conf):
    """A head that stops half-way ends after the configured timeout with
    what httpd sends on a read timeout: 408 for a started header block,
    logged as 408 in the access log."""
    if timeout_conf == "reqtimeout":
        srv = apache_factory(modules=("reqtimeout",),
                             extra="RequestReadTimeout header=2")
    else:
        srv = apache_factory(timeout=2)
    c = HttpConn(srv.port, timeout=10)
    try:
        t0 = time.monotonic()
        c.send(PARTIAL_HEAD)
        r = c.read_response()
        took = time.monotonic() - t0
    finally:
        c.close()
    assert r.status == 408
    assert 1.5 <= took <= 5.0, took
    assert wait_for(lambda: " 408 " in open(srv.access_log).read(), 5)


def test_stalled_second_head_on_keepalive_connection(apache_factory):
    """A keep-alive connection whose next head stops half-way is gathered
    again and ends after the header timeout like a new one (408), while a
    complete next head on another keep-alive connection is served."""
    srv = apache_factory(modules=("reqtimeout",), keepalive_timeout=30,
                         extra="RequestReadTimeout header=2")
    slow, fast = HttpConn(srv.port, timeout=10), HttpConn(srv.port, timeout=10)
    try:
        assert slow.request("/small.txt").status == 200
        assert fast.request("/small.txt").status == 200
        t0 = time.monotonic()
        slow.send(PARTIAL_HEAD)
        assert wait_for(lambda: MPM != "hybrid" or server_status_auto(srv.port)
                        .get("ConnsAsyncGathering", 0) == 1, 5)
        assert fast.request("/small.txt").status == 200
        r = slow.read_response()
        took = time.monotonic() - t0
    finally:
        slow.close()
        fast.close()
    assert r.status == 408
    assert 1.5 <= took <= 5.0, took


def test_minrate_extends_the_head_timeout(apache_factory):
    """header=2-5,MinRate=20: 200 bytes at once move the deadline from 2 s
    to the 5 s cap, as mod_reqtimeout counts it."""
    srv = apache_factory(modules=("reqtimeout",),
                         extra="RequestReadTimeout header=2-5,MinRate=20")
    c = HttpConn(srv.port, timeout=15)
    try:
        t0 = time.monotonic()
        c.send(PARTIAL_HEAD + b"x" * (200 - len(PARTIAL_HEAD)))
        r = c.read_response()
        took = time.monotonic() - t0
    finally:
        c.close()
    assert r.status == 408
    assert 4.0 <= took <= 7.5, took


def _send_in_parts(port, parts, pause=0.05):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    for p in parts:
        s.sendall(p)
        time.sleep(pause)       # spacing between parts, not a wait for the server
    buf = b""
    t_end = time.monotonic() + 10
    while time.monotonic() < t_end:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        if buf.count(b"HTTP/1.1 ") >= parts_expected(parts) and buf.endswith(b"small\n"):
            break
    s.close()
    return buf


def parts_expected(parts):
    return b"".join(parts).count(b"GET ")


@pytest.mark.parametrize("parts", [
    [b"GET /small.txt HTTP/1.1\r\nHo", b"st: localhost\r\n", b"\r", b"\n"],
    [b"\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    [b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /small.txt HTTP/1.1\r\n",
     b"Host: localhost\r\n\r\n"],
    [b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
     b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
     b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"],
    [b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 6000,
     b"\r\nX-More: " + b"c" * 3000 + b"\r\n\r\n"],
], ids=["split", "leading-blank-lines", "pipelined-split", "pipelined", "9k-head"])
def test_heads_in_pieces_are_served(apache, parts):
    buf = _send_in_parts(apache.port, parts)
    n = parts_expected(parts)
    assert buf.count(b"HTTP/1.1 200 OK") == n, buf[:300]


@pytest.mark.parametrize("options,status", [("", b"400"), ("Unsafe", b"200")])
def test_bare_lf_heads_get_the_cores_answer(apache_factory, options, status):
    """Bare-LF line ends: the head is handed over at its blank line and the
    core decides (400 under the default Strict, 200 with Unsafe), at once
    rather than after a timeout."""
    srv = apache_factory(extra="HttpProtocolOptions %s" % options if options else "")
    t0 = time.monotonic()
    buf = _send_in_parts(srv.port, [b"GET /small.txt HTTP/1.1\nHost: localhost\n",
                                    b"\n"])
    assert buf.startswith(b"HTTP/1.1 " + status), buf[:100]
    assert time.monotonic() - t0 < 3.0


@pytest.mark.skipif(MPM != "hybrid", reason="hybrid's own directive")
def test_head_over_gather_limit_goes_to_a_worker(apache_factory):
    """A head longer than HybridGatherMaxHead is handed to a worker (which
    reads the rest as under event) instead of waiting in the listener."""
    srv = apache_factory(extra="HybridGatherMaxHead 1024")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 2000)
        st = {}

        def in_worker():
            st.clear()
            st.update(server_status_auto(srv.port))
            return st["BusyWorkers"] >= 2 and st["ConnsAsyncGathering"] == 0
        assert wait_for(in_worker, 5), st
        s.sendall(b"\r\n\r\n")
        buf = b""
        while not buf.endswith(b"small\n"):
            d = s.recv(65536)
            assert d, buf
            buf += d
        assert buf.startswith(b"HTTP/1.1 200"), buf[:100]
    finally:
        s.close()


def test_body_after_gathered_head_is_read(apache_factory):
    """The head is gathered, the body is read by the worker as usual."""
    srv = apache_factory(extra="<Location /echo>\n  SetHandler server-status\n</Location>")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"POST /small.txt HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: 10\r\n\r\n12345")
        time.sleep(0.3)         # spacing between the two halves of the body
        s.sendall(b"67890")
        buf = b""
        t_end = time.monotonic() + 10
        while b"\r\n\r\n" not in buf and time.monotonic() < t_end:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    finally:
        s.close()
    # the static handler refuses POST with 405; what matters is an answer
    assert buf.startswith(b"HTTP/1.1 "), buf[:100]


@pytest.mark.skipif(MPM != "hybrid", reason="hybrid's own directive")
def test_per_ip_cap(apache_factory):
    srv = apache_factory(mpm={"StartServers": 1, "ServerLimit": 1,
                              "ThreadsPerChild": 10, "MaxRequestWorkers": 10,
                              "MinSpareThreads": 5, "MaxSpareThreads": 10},
                         extra="HybridGatherPerIP 5", allow_log=[r"HYB0403"])
    slow = SlowClients(srv.port, 12)
    try:
        slow.open()
        slow.poll(2.0)
        refused = len(slow.lifetimes())
        assert refused == 7, "expected 7 refused of 12, got %d" % refused
        assert all(a == b"" for a in slow.answers())
        assert _latency(srv.port) < 1.0     # whole heads are not capped
    finally:
        slow.close()
    assert wait_for(lambda: "HYB0403" in open(srv.error_log).read(), 5)
    assert open(srv.error_log).read().count("HYB0403") == 1


@pytest.mark.skipif(MPM != "hybrid", reason="hybrid's own directives")
@pytest.mark.parametrize("line,needle", [
    ("HybridGatherMaxHead 100", "HybridGatherMaxHead must be an integer from 1024 to 1048576"),
    ("HybridGatherMaxHead lots", "HybridGatherMaxHead must be an integer"),
    ("HybridGatherPerIP -1", "HybridGatherPerIP must be an integer from 0 to 1000000"),
    ("HybridGatherHeads maybe", "HybridGatherHeads"),
])
def test_bad_gather_directives_fail_configtest(tmp_tree, line, needle):
    rc, out = apache_t(minimal_conf(tmp_tree, line))
    assert rc != 0 and needle in out, out


def _rss_children_kb(srv):
    total = 0
    for pid in srv.children():
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _idle_keepalive(port, n):
    socks = []
    req = build_request("/small.txt")
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(req)
        buf = b""
        while not buf.endswith(b"small\n"):
            d = s.recv(4096)
            assert d
            buf += d
        socks.append(s)
    return socks


def test_gathering_costs_no_more_memory_than_keepalive(apache_factory):
    """RSS growth of the children per connection: gathering <= keep-alive."""
    one = {"StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": 10,
           "MaxRequestWorkers": 10, "MinSpareThreads": 5, "MaxSpareThreads": 10}
    n = 1000
    per_conn = {}
    for kind in ("keepalive", "gather"):
        srv = apache_factory(mpm=one, keepalive_timeout=60, timeout=60)
        for _ in range(20):
            _latency(srv.port)      # warm the workers up
        before = _rss_children_kb(srv)
        slow = None
        socks = []
        try:
            if kind == "gather":
                slow = SlowClients(srv.port, n)
                assert slow.open() == n
                key = "ConnsAsyncGathering" if MPM == "hybrid" else "ConnsTotal"
            else:
                socks = _idle_keepalive(srv.port, n)
                key = "ConnsAsyncKeepAlive"
            assert wait_for(lambda: server_status_auto(srv.port).get(key, 0) >= n, 10)
            time.sleep(1.5)     # the listener trims idle keep-alive memory after 1 s
            per_conn[kind] = (_rss_children_kb(srv) - before) * 1024.0 / n
        finally:
            if slow:
                slow.close()
            for s in socks:
                s.close()
        srv.stop()
    print("RSS per connection (bytes): %r" % per_conn)
    assert per_conn["gather"] <= per_conn["keepalive"] + 512, per_conn


# ---- TLS ------------------------------------------------------------------

@pytest.fixture
def tls_pair(apache_factory):
    srv = apache_factory(start=False, mpm=TWO_BY_TEN, nports=2,
                         modules=("socache_shmcb", "ssl", "reqtimeout"))
    vhost = tls_vhost(srv)
    # Inside <IfModule>, as Debian's default-ssl site is.
    srv.extra = lambda s: ("RequestReadTimeout header=20\n<IfModule ssl_module>\n"
                           + vhost(s) + "</IfModule>\n")
    srv.start()
    return srv


def _https_latency(port, timeout=5.0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t0 = time.monotonic()
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    assert buf.startswith(b"HTTP/1.1 200"), buf[:100]
    return time.monotonic() - t0


# The first 60 bytes of a ClientHello record that announces 512 bytes.  The
# LF byte in its "random" field would end an HTTP request line: waiting
# for the whole record (not for a head) is what keeps workers free.
STALLED_HELLO = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]) \
    + b"\x00" * 20 + b"\x0a" + b"\x00" * 28


def test_stalled_client_hellos_do_not_stop_https(tls_pair):
    srv = tls_pair
    tls_port = srv.ports[1]
    slow = SlowClients(tls_port, 500, first=STALLED_HELLO, interval=1000.0)
    try:
        assert slow.open() >= 495
        assert wait_for(lambda: server_status_auto(srv.port)
                        .get("ConnsAsyncGathering", 0) >= 490, 10), \
            server_status_auto(srv.port)
        st = server_status_auto(srv.port)
        assert st["BusyWorkers"] <= 2, st
        samples = [_https_latency(tls_port) for _ in range(20)]
        assert max(samples) < 1.0, samples
        assert slow.open_count() >= 495
    finally:
        slow.close()
