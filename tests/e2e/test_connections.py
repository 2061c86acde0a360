"""Many idle keep-alive connections, and misbehaving clients."""

import os
import random
import selectors
import socket
import struct
import threading
import time

import pytest

from conftest import (TEST_NOFILE, HttpConn, build_request, http_get,
                      server_status_auto, wait_for)


def _response_complete(buf):
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None
    head = bytes(buf[:i]).decode("latin-1")
    status = int(head.split(" ", 2)[1])
    cl = 0
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            cl = int(v)
    if len(buf) >= i + 4 + cl:
        return status
    return None


def open_idle_keepalive(port, n, path="/small.txt", max_inflight=100, stall=5.0,
                        overall=90.0):
    """Open n connections that each complete one keep-alive request.

    Non-blocking, at most max_inflight connections in progress.  Stops when
    n are done, after `stall` seconds without progress, or after `overall`
    seconds.  Returns (done_sockets, pending_sockets, errors)."""
    sel = selectors.DefaultSelector()
    req = build_request(path)
    done, errors = [], []
    inflight = {}
    started = 0
    t_start = last_progress = time.monotonic()
    try:
        while len(done) < n:
            while started < n and len(inflight) < max_inflight:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                inflight[s] = [bytearray(), False]
                sel.register(s, selectors.EVENT_WRITE)
                started += 1
            now = time.monotonic()
            if now - last_progress > stall or now - t_start > overall:
                break
            for key, _mask in sel.select(timeout=0.2):
                s = key.fileobj
                st = inflight[s]
                try:
                    if not st[1]:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise OSError(err, os.strerror(err))
                        s.send(req)
                        st[1] = True
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed by server before the response was complete")
                    st[0] += data
                    status = _response_complete(st[0])
                    if status is not None:
                        sel.unregister(s)
                        del inflight[s]
                        if status != 200:
                            errors.append("status %d" % status)
                            s.close()
                        else:
                            done.append(s)
                        last_progress = time.monotonic()
                except OSError as e:
                    errors.append(repr(e))
                    sel.unregister(s)
                    del inflight[s]
                    s.close()
                    last_progress = time.monotonic()
                    if len(errors) > 20:
                        return done, list(inflight), errors
    finally:
        sel.close()
    return done, list(inflight), errors


def _status_or_error(port):
    try:
        return server_status_auto(port, timeout=3)
    except Exception as e:  # noqa: BLE001
        return "server-status failed: %r" % e


@pytest.mark.slow
def test_idle_keepalive_connections_do_not_hold_workers(apache_factory):
    n = 2000
    if TEST_NOFILE < n + 200:
        pytest.skip("RLIMIT_NOFILE %d too low for %d connections" % (TEST_NOFILE, n))
    srv = apache_factory(
        mpm={"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 10,
             "MaxRequestWorkers": 20, "MinSpareThreads": 5, "MaxSpareThreads": 20},
        keepalive_timeout=60, max_keepalive_requests=0)
    assert wait_for(lambda: server_status_auto(srv.port)["Processes"] == 2, 10)
    done, pending, errors = open_idle_keepalive(srv.port, n)
    st = {}
    try:
        assert not errors, "errors while opening connections: %s" % errors[:5]
        ndone = len(done)
        assert ndone == n, (
            "only %d of %d connections got a response (%d stalled); status: %s"
            % (ndone, n, len(pending), _status_or_error(srv.port)))

        def all_parked():
            st.clear()
            st.update(server_status_auto(srv.port))
            return st["ConnsAsyncKeepAlive"] == n
        assert wait_for(all_parked, 10), "ConnsAsyncKeepAlive != %d: %s" % (n, st)
        assert st["BusyWorkers"] <= 2, "idle keep-alive connections hold workers: %s" % st
        assert st["ConnsTotal"] >= n, st

        # A brand-new client is served promptly.
        t0 = time.monotonic()
        r = http_get(srv.port, "/index.html", timeout=5)
        dt = time.monotonic() - t0
        assert r.status == 200
        assert dt < 1.0, "new request took %.2fs with %d idle connections" % (dt, n)

        # Some of the parked connections are still usable.
        for s in random.Random(1).sample(done, 20):
            s.setblocking(True)
            s.settimeout(5)
            s.sendall(build_request("/small.txt"))
            buf = bytearray()
            while _response_complete(buf) is None:
                data = s.recv(65536)
                assert data, "parked keep-alive connection was closed"
                buf += data
            assert _response_complete(buf) == 200
    finally:
        for s in done + pending:
            s.close()
    # Everything is released once the clients go away.
    assert wait_for(lambda: server_status_auto(srv.port)["ConnsTotal"] <= 1, 15), \
        server_status_auto(srv.port)


# ---------------------------------------------------------------------------

def _bad_reset(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(b"GET /index.ht")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()                                   # RST
    return None


def _bad_garbage(port, rnd):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
                  + bytes(rnd.getrandbits(8) for _ in range(300)) + b"\r\n\r\n")
        t0 = time.monotonic()
        try:
            while s.recv(65536):
                if time.monotonic() - t0 > 5:
                    return "garbage connection not closed within 5 s"
        except ConnectionResetError:
            pass
        except socket.timeout:
            return "garbage connection not closed within 5 s"
    finally:
        s.close()
    return None


def _bad_vanish(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.close()
    return None


def _bad_half_request(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX-Foo: ba")
    s.close()                                   # FIN mid-headers
    return None


@pytest.mark.slow
def test_misbehaving_clients_disturb_nobody(apache_factory):
    srv = apache_factory(timeout=10, keepalive_timeout=10, max_keepalive_requests=0)
    children_before = sorted(srv.children())
    stop = threading.Event()
    good = {"ok": 0, "fail": [], "max_latency": 0.0}

    def good_client():
        try:
            c = HttpConn(srv.port, timeout=3)
        except OSError as e:
            good["fail"].append(repr(e))
            return
        with c:
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = c.request("/index.html")
                except Exception as e:  # noqa: BLE001
                    good["fail"].append(repr(e))
                    return
                good["max_latency"] = max(good["max_latency"], time.monotonic() - t0)
                if r.status != 200:
                    good["fail"].append("status %d" % r.status)
                    return
                good["ok"] += 1
                time.sleep(0.005)

    th = threading.Thread(target=good_client, daemon=True)
    th.start()
    rnd = random.Random(42)
    problems = []
    deadline = time.monotonic() + 60
    try:
        for i in range(200):
            assert time.monotonic() < deadline, "bad clients took more than 60 s"
            kind = i % 4
            if kind == 0:
                p = _bad_reset(srv.port)
            elif kind == 1:
                p = _bad_garbage(srv.port, rnd)
            elif kind == 2:
                p = _bad_vanish(srv.port)
            else:
                p = _bad_half_request(srv.port)
            if p:
                problems.append(p)
            time.sleep(0.01)        # pace: spread the 200 over ~2 s of good traffic
    finally:
        stop.set()
        th.join(10)
    assert not th.is_alive(), "good client hung"
    assert not good["fail"], "good client failed: %s (after %d ok)" % (good["fail"], good["ok"])
    assert good["ok"] >= 20, "good client made only %d requests" % good["ok"]
    assert good["max_latency"] < 1.0, "good client saw %.2fs latency" % good["max_latency"]
    assert not problems, problems[:5]
    # Still serving, no worker left busy, no child replaced (no crash).
    assert http_get(srv.port, "/index.html").status == 200
    st = {}

    def settled():
        st.clear()
        st.update(server_status_auto(srv.port))
        return st["BusyWorkers"] <= 1
    assert wait_for(settled, 5), "workers still busy after bad clients left: %s" % st
    assert sorted(srv.children()) == children_before, "children were replaced"
