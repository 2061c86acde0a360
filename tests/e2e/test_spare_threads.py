"""Spare-thread maintenance: the parent forks children while idle threads
are below MinSpareThreads and, once the load is gone, retires one child a
second (each maintenance tick, none skipped) until idle threads are within
MaxSpareThreads.

The load is requests that hold a worker thread (the helper module's
sleeping handler, helpers/mod_hyb_test.c), on new connections with
Connection: close, so no keep-alive connection delays a retiring child."""

import threading
import time

import pytest

from conftest import http_get, server_status_auto, wait_for

TPC, MIN_SPARE, MAX_SPARE, SERVER_LIMIT = 5, 5, 10, 8
CLIENTS = 20                    # busy workers under load
LOAD_SECONDS = 8.0
SLEEP_MS = 500


class Load:
    """CLIENTS threads, each looping GET /sleep?ms=SLEEP_MS until join()
    (at most LOAD_SECONDS and 100 requests); records failures."""

    def __init__(self, port):
        self.port, self.ok, self.fail = port, 0, []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(CLIENTS)]

    def _run(self):
        t_end = time.monotonic() + LOAD_SECONDS
        for _ in range(100):
            if self.stop.is_set() or time.monotonic() > t_end:
                return
            try:
                r = http_get(self.port, "/sleep?ms=%d" % SLEEP_MS, timeout=10)
                if r.status == 200:
                    self.ok += 1
                else:
                    self.fail.append("status %d" % r.status)
            except Exception as e:      # reported by the test
                self.fail.append(repr(e))

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(LOAD_SECONDS + 15)


def _sample(srv, samples, t0):
    n = len(srv.children())
    samples.append((time.monotonic() - t0, n))
    return n


@pytest.mark.slow
def test_spare_threads_grow_under_load_and_shrink_one_child_a_second(
        apache_factory, hyb_test_module):
    srv = apache_factory(
        extra="LoadModule hyb_test_module %s\n<Location /sleep>\n"
              "    SetHandler hyb-test-sleep\n</Location>\n" % hyb_test_module,
        mpm={"StartServers": 1, "ServerLimit": SERVER_LIMIT, "ThreadsPerChild": TPC,
             "MaxRequestWorkers": SERVER_LIMIT * TPC, "MinSpareThreads": MIN_SPARE,
             "MaxSpareThreads": MAX_SPARE})
    assert wait_for(lambda: len(srv.children()) == 1, 5), srv.children()
    t0 = time.monotonic()
    samples = []
    load = Load(srv.port)
    load.start()
    try:
        # 20 busy workers need 20 + MinSpareThreads threads: at least 5 children
        need = (CLIENTS + MIN_SPARE + TPC - 1) // TPC
        assert wait_for(lambda: _sample(srv, samples, t0) >= need, LOAD_SECONDS), \
            "children did not grow to %d under load: %s" % (need, samples[-5:])
    finally:
        load.join()
    assert not load.fail, "%d requests failed under load, e.g. %s" % (
        len(load.fail), load.fail[:3])
    peak = max(n for _, n in samples)
    assert peak <= SERVER_LIMIT
    t_idle = time.monotonic() - t0
    # MaxSpareThreads 10 allows 2 idle children of 5 threads
    settled = MAX_SPARE // TPC
    assert wait_for(lambda: _sample(srv, samples, t0) == settled,
                    1.8 * (peak - settled) + 3), \
        "children did not shrink to %d: %s" % (settled, samples[-5:])
    # and stay there (polled over more than two maintenance ticks)
    assert wait_for(lambda: _sample(srv, samples, t0) != settled, 2.5) is None, \
        samples[-5:]
    st = server_status_auto(srv.port)
    assert st["BusyWorkers"] + st["IdleWorkers"] == settled * TPC, st
    drops = [t for (t, n), (_, prev) in zip(samples[1:], samples) if t > t_idle and n < prev]
    gaps = [b - a for a, b in zip(drops, drops[1:])]
    print("at most %d children seen, shrink to %d: drops at %s, gaps %s" % (
        peak, settled, ["%.2f" % t for t in drops], ["%.2f" % g for g in gaps]))
    # the count is sampled every 50 ms; one retirement per one-second
    # maintenance tick: not two in one tick, and no tick skipped
    assert all(g >= 0.5 for g in gaps), "more than one child retired per second: %s" % gaps
    assert all(g <= 1.8 for g in gaps), "children retired slower than one a second: %s" % gaps
    # every retirement is seen on its own (50 ms samples, a tick apart)
    assert len(drops) >= peak - settled, (peak, drops)
