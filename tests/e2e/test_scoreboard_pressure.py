"""Scoreboard slots across graceful restarts.

A child of an old generation keeps its scoreboard slot until its last
request is done, so long downloads that span graceful restarts hold slots
that the new generation would like to use.

* With ServerLimit at least twice MaxRequestWorkers / ThreadsPerChild, long
  slow downloads held open across 5 graceful restarts must not cost the new
  generations any capacity: after each restart a burst of MaxRequestWorkers
  concurrent requests that each hold a worker (the helper module's sleeping
  handler) runs all at once and is answered 2xx, and "scoreboard is full"
  is never logged.
* With ServerLimit just big enough for one generation, a download pinning
  an old child makes the parent run out of slots: it logs one warning per
  episode (not one a second) that names ServerLimit, and keeps serving.
"""

import hashlib
import os
import re
import signal
import socket
import threading
import time

import pytest

from conftest import HttpConn, MPM, build_request, http_get, server_status_auto, wait_for

BIG = 16 * 1024 * 1024          # more than the kernel buffers on both sides


@pytest.fixture(scope="module")
def big_file():
    data = os.urandom(BIG)
    return data, hashlib.sha256(data).hexdigest()


class HeldDownload(threading.Thread):
    """GET /big.bin and read it slowly (16 KB every 50 ms, so the server
    child stays busy writing and the connection never times out) until
    release(), then read the rest at full speed.  Bounded by `limit` s."""

    def __init__(self, port, limit=60.0):
        super().__init__(daemon=True)
        self.port, self.limit = port, limit
        self.started = threading.Event()
        self._go = threading.Event()
        self.digest = self.error = None

    def release(self):
        self._go.set()

    def run(self):
        try:
            self._download()
        except Exception as e:      # reported by the test
            self.error = repr(e)
        finally:
            self.started.set()

    def _download(self):
        c = HttpConn(self.port, timeout=10, rcvbuf=16384)
        try:
            c.send(build_request("/big.bin", close=True))
            head = c._read_until(b"\r\n\r\n").decode("latin-1")
            assert head.startswith("HTTP/1.1 200"), head
            h, got = hashlib.sha256(bytes(c.buf)), len(c.buf)
            c.buf.clear()
            t_end = time.monotonic() + self.limit
            while got < BIG:
                assert time.monotonic() < t_end, "download not done in %.0f s" % self.limit
                data = c.sock.recv(min(16384 if not self._go.is_set() else 1 << 20,
                                       BIG - got))
                assert data, "connection closed after %d of %d bytes" % (got, BIG)
                h.update(data)
                got += len(data)
                self.started.set()
                if not self._go.is_set():
                    self._go.wait(0.05)
            self.digest = h.hexdigest()
        finally:
            c.close()


def _hyb_test_conf(so):
    return ("LoadModule hyb_test_module %s\n<Location /sleep>\n"
            "    SetHandler hyb-test-sleep\n</Location>\n" % so)


def _gen(srv):
    return server_status_auto(srv.port)["ParentServerMPMGeneration"]


def _threads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def _graceful_restart(srv, tpc, children):
    """SIGUSR1, then wait until the new generation answers and has all its
    children with all their threads.  Returns the new children's pids."""
    before = set(srv.children())
    gen = _gen(srv)
    srv.signal(signal.SIGUSR1)
    assert wait_for(lambda: _gen(srv) == gen + 1, 10), "restart after gen %d stuck" % gen

    def ready():
        new = set(srv.children()) - before
        return len(new) == children and all(_threads(p) >= tpc + 2 for p in new) and new
    new = wait_for(ready, 10)
    assert new, "new generation not complete: %s (old %s)" % (srv.children(), before)
    return new


def _burst(port, n, ms, bound):
    """n concurrent GET /sleep?ms=ms; returns [(status, start_us, end_us)]
    or raises; every answer must come within `bound` seconds."""
    out, errs = [None] * n, []
    go = threading.Barrier(n)

    def one(i):
        try:
            go.wait(5)
            t0 = time.monotonic()
            r = http_get(port, "/sleep?ms=%d" % ms, timeout=bound)
            took = time.monotonic() - t0
            m = re.match(rb"start=(\d+) end=(\d+) pid=(\d+)", r.body)
            assert r.status == 200 and m, (r.status, r.body[:80])
            out[i] = (took, int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except Exception as e:      # collected below
            errs.append(repr(e))
    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(bound + 10)
    assert not errs, "%d of %d burst requests failed: %s" % (len(errs), n, errs[:3])
    return out


def _max_overlap(results):
    """Largest number of requests that were inside the handler at once."""
    events = sorted([(s, 1) for _, s, _, _ in results] + [(e, -1) for _, _, e, _ in results],
                    key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


@pytest.mark.slow
def test_long_downloads_across_graceful_restarts_keep_full_capacity(
        apache_factory, big_file, hyb_test_module):
    data, digest = big_file
    tpc, workers, restarts, downloads = 10, 20, 5, 4
    children = workers // tpc
    srv = apache_factory(files={"big.bin": data}, timeout=60,
                         extra=_hyb_test_conf(hyb_test_module),
                         mpm={"StartServers": children, "ServerLimit": 2 * children,
                              "ThreadsPerChild": tpc, "MaxRequestWorkers": workers,
                              "MinSpareThreads": tpc, "MaxSpareThreads": workers})
    gen0 = set(srv.children())
    dls = [HeldDownload(srv.port) for _ in range(downloads)]
    try:
        for d in dls:
            d.start()
        for d in dls:
            assert d.started.wait(10) and not d.error, d.error
        overlaps, worst = [], 0.0
        for i in range(restarts):
            _graceful_restart(srv, tpc, children)
            # the downloads still pin children of the first generation
            assert set(srv.children()) & gen0, "no old child held by a download " \
                "(restart %d): the test puts no pressure on the scoreboard" % i
            res = _burst(srv.port, workers, 1000, bound=8.0)
            overlaps.append(_max_overlap(res))
            worst = max(worst, max(r[0] for r in res))
        for d in dls:
            assert d.is_alive() or d.digest, "download ended early: %s" % d.error
    finally:
        for d in dls:
            d.release()
        for d in dls:
            d.join(30)
    for d in dls:
        assert d.digest == digest, "download broken: %s" % d.error
    print("max concurrent requests per burst: %s (of %d), slowest answer %.2f s"
          % (overlaps, workers, worst))
    # Each child may accept one connection more than it has idle workers
    # before it stops accepting (hybrid's capacity rule); that one waits.
    assert min(overlaps) >= workers - children, \
        "bursts did not run at full capacity: %s of %d" % (overlaps, workers)
    assert "scoreboard is full" not in srv.log_text()


def _slot_warnings(srv):
    return [l for l in srv.log_text().splitlines()
            if "scoreboard is full" in l and "ServerLimit" in l]


def _one_episode(srv, expect_lines):
    """Pin an old child with a download across a graceful restart; the
    parent runs out of slots.  Returns the latencies of requests made
    meanwhile."""
    d = HeldDownload(srv.port)
    d.start()
    lat = []
    try:
        assert d.started.wait(10) and not d.error, d.error
        gen = _gen(srv)
        srv.signal(signal.SIGUSR1)
        assert wait_for(lambda: _gen(srv) == gen + 1, 10)
        assert wait_for(lambda: len(_slot_warnings(srv)) >= expect_lines, 8), \
            "no slot-shortage warning:\n" + srv.log_text()[-3000:]
        # the server keeps serving, and does not repeat the warning while
        # the episode lasts (polled over 3 maintenance ticks)
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            assert http_get(srv.port, "/small.txt", timeout=5).status == 200
            lat.append(time.monotonic() - t0)
            assert len(_slot_warnings(srv)) == expect_lines, \
                "warning repeated:\n" + "\n".join(_slot_warnings(srv))
            time.sleep(0.1)
        assert d.is_alive(), "download ended before the episode was checked"
    finally:
        d.release()
        d.join(30)
    assert d.digest, "download broken: %s" % d.error
    return lat


def _check_warning(line):
    """The numbers of hybrid's HYB0208 line for one pinned old child."""
    if MPM != "hybrid":
        return
    assert "HYB0208" in line, line
    assert "hold 1 of the ServerLimit 2 slots" in line, line
    assert re.search(r"the oldest was started \d+ s ago", line), line
    assert "it runs 1 of up to 2 children" in line, line
    assert "raise ServerLimit to at least 3" in line, line
    assert "lower HybridDrainTimeout (now 2 s)" in line, line


@pytest.mark.slow
def test_slot_shortage_is_warned_once_per_episode(apache_factory, big_file):
    data, _ = big_file
    srv = apache_factory(files={"big.bin": data}, timeout=60,
                         mpm={"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 5,
                              "MaxRequestWorkers": 10, "MinSpareThreads": 10,
                              "MaxSpareThreads": 15})
    lat = _one_episode(srv, 1)
    _check_warning(_slot_warnings(srv)[0])
    # once the old child is gone, the new generation gets its second child
    st = {}

    def full():
        st.clear()
        st.update(server_status_auto(srv.port))
        return st["Processes"] == 2 and st["Stopping"] == 0 and len(srv.children()) == 2
    assert wait_for(full, 10), st
    # a second episode gets its own warning
    lat += _one_episode(srv, 2)
    assert len(_slot_warnings(srv)) == 2, "\n".join(_slot_warnings(srv))
    _check_warning(_slot_warnings(srv)[1])
    print("requests during the episodes: %d, slowest %.3f s" % (len(lat), max(lat)))
    assert max(lat) < 1.0, "a request took %.2f s while slots were short" % max(lat)
