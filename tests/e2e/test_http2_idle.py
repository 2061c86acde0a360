"""1 000 idle HTTP/2 connections on 2 children x 10 threads.

mod_http2 (2.0.x) hands an h2 connection with no open stream back to the
MPM: one that has only sent its preface and SETTINGS waits in
CONN_STATE_ASYNC_WAITIO (closed with a GOAWAY after `Timeout`), one whose
streams are done waits as keep-alive (closed after `KeepAliveTimeout`).
Both timeouts are set well above the test's duration, so every connection
must still be open at the end; none may hold a worker thread meanwhile."""

import asyncio
import struct
import time

import pytest

from conftest import MPM, TEST_NOFILE, http_get, server_status_auto, wait_for
from h2client import (ACK, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING,
                      PREFACE, RST_STREAM, SETTINGS, WINDOW_UPDATE, _literal, frame)

N = 1000


class AsyncH2:
    """One h2c connection (prior knowledge) driven by asyncio; a reader task
    answers SETTINGS and PING and records DATA, GOAWAY and EOF."""

    def __init__(self, port):
        self.port = port
        self.settings = asyncio.Event()
        self.done = {}                  # stream id -> asyncio.Event
        self.bodies = {}
        self.goaway = None
        self.eof = False
        self.task = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(PREFACE + frame(SETTINGS, 0, 0))
        self.task = asyncio.ensure_future(self._read_loop())
        await self.settings.wait()      # the server's SETTINGS: a live h2 session

    async def _read_loop(self):
        try:
            while True:
                head = await self.reader.readexactly(9)
                ln = int.from_bytes(head[:3], "big")
                ftype, flags = head[3], head[4]
                sid = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = await self.reader.readexactly(ln) if ln else b""
                if ftype == SETTINGS and not flags & ACK:
                    self.writer.write(frame(SETTINGS, ACK, 0))
                    self.settings.set()
                elif ftype == PING and not flags & ACK:
                    self.writer.write(frame(PING, ACK, 0, payload))
                elif ftype == GOAWAY:
                    self.goaway = payload
                elif ftype in (DATA, HEADERS, RST_STREAM):
                    if ftype == DATA and payload:
                        self.bodies.setdefault(sid, bytearray()).extend(payload)
                        inc = struct.pack(">I", len(payload))
                        self.writer.write(frame(WINDOW_UPDATE, 0, 0, inc))
                    if ftype == RST_STREAM or flags & END_STREAM:
                        self.done.setdefault(sid, asyncio.Event()).set()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.eof = True
            for ev in self.done.values():
                ev.set()
            self.settings.set()

    async def get(self, sid, path):
        block = b"".join(_literal(k, v) for k, v in (
            (":method", "GET"), (":scheme", "http"), (":path", path),
            (":authority", "localhost")))
        ev = self.done.setdefault(sid, asyncio.Event())
        self.writer.write(frame(HEADERS, END_STREAM | END_HEADERS, sid, block))
        await ev.wait()
        return bytes(self.bodies.get(sid, b""))

    def close(self):
        if self.task:
            self.task.cancel()
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001
            pass


async def _open_all(port, n, with_request, parallel=100, per_conn=10.0, overall=30.0):
    """n connections, at most `parallel` in their handshake at a time; each
    in with_request(i) also completes one request and then idles.  Gives up
    after `overall` seconds (the unfinished ones count as errors)."""
    sem = asyncio.Semaphore(parallel)
    conns, errors = [], []

    async def one(i):
        async with sem:
            c = AsyncH2(port)
            conns.append(c)
            try:
                await asyncio.wait_for(c.open(), per_conn)
                if c.eof:
                    raise ConnectionError("closed before the server's SETTINGS")
                if with_request(i):
                    body = await asyncio.wait_for(c.get(1, "/small.txt"), per_conn)
                    if body != b"small\n":
                        raise AssertionError("body %r (goaway=%r)" % (body, c.goaway))
            except Exception as e:  # noqa: BLE001
                errors.append("conn %d: %r" % (i, e))
    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    _done, pending = await asyncio.wait(tasks, timeout=overall)
    for t in pending:
        t.cancel()
    if pending:
        errors.append("%d of %d connections not established within %.0f s"
                      % (len(pending), n, overall))
    return conns, errors


@pytest.mark.slow
def test_1000_idle_h2_connections_hold_no_worker(apache_factory):
    if TEST_NOFILE < N + 200:
        pytest.skip("RLIMIT_NOFILE %d too low for %d connections" % (TEST_NOFILE, N))
    # The server runs with RLIMIT_NOFILE 65536 (the harness default), enough
    # for N connections in one child.
    srv = apache_factory(modules=["http2"], extra="Protocols h2c http/1.1",
                         timeout=120, keepalive_timeout=120, max_keepalive_requests=0,
                         mpm={"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 10,
                              "MaxRequestWorkers": 20, "MinSpareThreads": 5,
                              "MaxSpareThreads": 20})
    assert wait_for(lambda: server_status_auto(srv.port)["Processes"] == 2, 10)

    def status():
        return server_status_auto(srv.port, timeout=5)

    async def scenario():
        # even connections: preface + SETTINGS only; odd: one request first
        conns, errors = await _open_all(srv.port, N, lambda i: i % 2 == 1)
        try:
            assert not errors, "%d errors: %s" % (len(errors), errors[-5:])
            st = {}

            def settled():
                st.clear()
                st.update(status())
                if MPM == "hybrid":     # exact counters (event samples them)
                    return st["ConnsAsyncWaitIO"] + st["ConnsAsyncKeepAlive"] >= N
                return st["ConnsTotal"] >= N
            ok = await asyncio.to_thread(wait_for, settled, 15, 0.2)
            assert ok, "the idle h2 connections are not all waiting in the MPM: %s" % st
            assert st["ConnsTotal"] >= N, st
            # the status request itself is the one busy worker to expect
            assert st["BusyWorkers"] <= 3, "idle h2 connections hold workers: %s" % st

            t0 = time.monotonic()
            r = await asyncio.to_thread(http_get, srv.port, "/index.html", timeout=5)
            dt = time.monotonic() - t0
            assert r.status == 200, r
            assert dt < 1.0, "a new request took %.2f s with %d idle h2 connections" % (dt, N)
            t0 = time.monotonic()
            fresh = AsyncH2(srv.port)
            try:
                await asyncio.wait_for(fresh.open(), 5)
                body = await asyncio.wait_for(fresh.get(1, "/index.html"), 5)
            finally:
                fresh.close()
            dt = time.monotonic() - t0
            assert body == b"<html>e2e index</html>\n", body
            assert dt < 1.0, "a new h2 request took %.2f s" % dt

            # Every idle connection is still open, and some of each kind
            # still answer a request.
            closed = [i for i, c in enumerate(conns) if c.eof or c.goaway is not None]
            assert not closed, "%d idle h2 connections were closed, e.g. %s" % (
                len(closed), closed[:5])
            sample = list(range(0, N, 100)) + list(range(1, N, 100))
            bodies = await asyncio.wait_for(asyncio.gather(
                *(conns[i].get(3 if i % 2 else 1, "/small.txt") for i in sample)), 15)
            assert all(b == b"small\n" for b in bodies), bodies
        finally:
            for c in conns:
                c.close()
            await asyncio.sleep(0)
    asyncio.run(asyncio.wait_for(scenario(), 120))
