"""When gathered heads time out (issue 11, findings 2 and 6).

The clock of a head starts when the connection is accepted, read fresh
(not the loop's time from before an idle spell), and a head times out
within 100 ms of the moment mod_reqtimeout (or the core's read timeout)
ends it under event: the same inputs are sent to hybrid and to a stock
event server in the same test.  Everything goes to 127.0.0.1, bounded.
"""

import socket
import ssl
import threading
import time

import pytest

from conftest import MODDIR, MPM_LOADMODULE, HttpConn, tls_vhost

EVENT_LOADMODULE = "LoadModule mpm_event_module %s/mod_mpm_event.so" % MODDIR
ONE_CHILD = {"StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": 10,
             "MaxRequestWorkers": 10, "MinSpareThreads": 5,
             "MaxSpareThreads": 10}


def as_event(srv):
    """Make a server not yet started run mpm_event (no change when
    MPM=event); returns it."""
    render = srv.render_conf
    srv.render_conf = lambda: render().replace(MPM_LOADMODULE, EVENT_LOADMODULE)
    return srv


def event_twin(apache_factory, **kw):
    """A started server with the same configuration under mpm_event."""
    return as_event(apache_factory(start=False, **kw)).start()


# ---- finding 2: a fresh clock after an idle spell -----------------------

def _split_head(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n")
        time.sleep(0.2)         # the second segment, 0.2 s later
        s.sendall(b"Connection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                return buf
            buf += d
    finally:
        s.close()


def _pump(sock, obj, out):
    data = out.read()
    if data:
        sock.sendall(data)


def _split_hello_https(port):
    """An HTTPS request whose ClientHello is sent in two segments 0.2 s
    apart; returns the response."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        s.sendall(hello[:len(hello) // 2])
        time.sleep(0.2)
        s.sendall(hello[len(hello) // 2:])
        for _ in range(50):
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                _pump(s, obj, out)
                d = s.recv(65536)
                if not d:
                    return b"(closed during the handshake)"
                inc.write(d)
        _pump(s, obj, out)
        obj.write(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n")
        _pump(s, obj, out)
        buf = b""
        for _ in range(100):
            try:
                buf += obj.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
        return buf
    finally:
        s.close()


def test_split_heads_after_idle_spell_are_served(apache_factory):
    """Two servers (one child each) idle for 8 s with header=6; then a head,
    and a ClientHello, each split across two segments 0.2 s apart, are
    served normally (event: the same).  Failed before: the loop's time was
    from before the idle spell, so the head got 408 and the handshake was
    dropped (AH01998)."""
    plain_srv = apache_factory(mpm=ONE_CHILD, modules=("reqtimeout",),
                               extra="RequestReadTimeout header=6")
    tls_srv = apache_factory(start=False, mpm=ONE_CHILD, nports=2,
                             modules=("socache_shmcb", "ssl", "reqtimeout"))
    vhost = tls_vhost(tls_srv)
    tls_srv.extra = lambda s: "RequestReadTimeout header=6\n" + vhost(s)
    tls_srv.start()
    time.sleep(8.0)             # the idle spell is the condition under test
    plain = _split_head(plain_srv.port)
    https = _split_hello_https(tls_srv.ports[1])
    assert plain.startswith(b"HTTP/1.1 200"), plain[:200]
    assert https.startswith(b"HTTP/1.1 200"), https[:200]


# ---- finding 6: on time, to within 100 ms of event ----------------------

PARTIAL = b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n"      # 42 bytes


def _timed(port, steps, trickle=None, keepalive_first=False, limit=9.0):
    """Send steps [(at seconds, bytes)], then a byte every `trickle`
    seconds until the server answers or closes.  Returns (seconds from the
    first send to the answer or close, status line)."""
    c = HttpConn(port, timeout=limit)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if keepalive_first:
            assert c.request("/small.txt").status == 200
            time.sleep(0.2)
        t0 = time.monotonic()
        steps = list(steps)
        next_byte = None
        c.sock.settimeout(0.01)
        while time.monotonic() - t0 < limit:
            now = time.monotonic() - t0
            while steps and steps[0][0] <= now:
                c.sock.sendall(steps.pop(0)[1])
                if not steps and trickle:
                    next_byte = now + trickle
            if next_byte is not None and now >= next_byte:
                try:
                    c.sock.sendall(b"a")
                except OSError:
                    pass
                next_byte += trickle
            try:
                d = c.sock.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                d = b""
            took = time.monotonic() - t0
            return took, d.split(b"\r\n", 1)[0]
        return None, b""
    finally:
        c.close()


TIMING_CASES = {
    # 42 bytes of whole lines at once: 2 s + 42 x 2 ms
    "partial-head": dict(steps=[(0, PARTIAL)]),
    # 1 KB without a line feed at once: the first wait is not extended
    "1k-nuls": dict(steps=[(0, b"\0" * 1024)]),
    # 500 more bytes of an open line at 1 s: still 2.08 s
    "open-line-500": dict(steps=[(0, PARTIAL), (1.0, b"X-A: " + b"a" * 495)]),
    # 500 more bytes of whole lines at 1 s: extended to 3.08 s
    "whole-lines-500": dict(steps=[(0, PARTIAL),
                                   (1.0, b"X-A: " + b"a" * 493 + b"\r\n")]),
    # a byte every 0.5 s: timed out by the byte that comes after the deadline
    "trickle": dict(steps=[(0, PARTIAL)], trickle=0.5),
    # the next head on a keep-alive connection: from its first byte
    "keepalive": dict(steps=[(0, PARTIAL)], keepalive_first=True),
}


def test_head_timeouts_fire_when_events_do(apache_factory):
    """RequestReadTimeout header=2-4,MinRate=500: each input above ends
    (status line and time) within 100 ms of event's end.  Failed before:
    expiry was checked once a second and MinRate counted bytes the core
    had not read (1 KB of NULs: 4.0 s against event's 2.0 s)."""
    kw = dict(mpm=ONE_CHILD, modules=("reqtimeout",), keepalive_timeout=30,
              extra="RequestReadTimeout header=2-4,MinRate=500")
    _compare(apache_factory, kw, TIMING_CASES)


TIMEOUT_CASES = {
    "partial-head": dict(steps=[(0, PARTIAL)]),
    # every byte restarts the read's wait
    "trickle-then-stop": dict(steps=[(0, PARTIAL), (0.5, b"a"), (1.0, b"a"),
                                     (1.5, b"a")]),
}


def test_timeout_without_header_stage_fires_when_events_does(apache_factory):
    """No header stage (header=0): Timeout bounds each read, so a head
    times out Timeout after its last byte, as under event.  Failed before:
    Timeout counted from the first byte (2.0 s against event's 3.5 s)."""
    kw = dict(mpm=ONE_CHILD, modules=("reqtimeout",), timeout=2,
              extra="RequestReadTimeout header=0")
    _compare(apache_factory, kw, TIMEOUT_CASES)


def _compare(apache_factory, kw, cases):
    srv = apache_factory(**kw)
    ev = event_twin(apache_factory, **kw)
    results = {}

    def run(key, port, case):
        results[key] = _timed(port, **case)
    threads = [threading.Thread(target=run, args=((name, which), port, case))
               for name, case in cases.items()
               for which, port in (("hybrid", srv.port), ("event", ev.port))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    report = {name: (results.get((name, "hybrid")), results.get((name, "event")))
              for name in cases}
    print("hybrid vs event: %r" % report)
    for name, (h, e) in report.items():
        assert h and e and h[0] is not None and e[0] is not None, (name, h, e)
        assert h[1] == e[1], (name, h, e)
        assert abs(h[0] - e[0]) <= 0.1, (name, h, e)
