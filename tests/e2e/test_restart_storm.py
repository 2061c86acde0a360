"""Restart storm: keep-alive clients keep requesting while the server is
gracefully restarted again and again (or recycles children through
MaxConnectionsPerChild).  Every request must get a 2xx answer: a client
may have to reconnect after a `Connection: close`, but it must never see a
reset, an EOF instead of a response, or a refused connection."""

import signal
import threading
import time

import pytest

from conftest import HttpConn, server_status_auto, wait_for

CLIENTS = 100
RESTARTS = 10
STORM_SECONDS = 20.0


class Client(threading.Thread):
    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.ok = self.errors = self.reconnects = 0
        self.max_latency = 0.0
        self.last_error = None

    def run(self):
        conn = None
        while not self.stop.is_set() and self.ok + self.errors < 20000:
            try:
                if conn is None:
                    conn = HttpConn(self.port, timeout=10)
                t0 = time.monotonic()
                r = conn.request("/small.txt")
                self.max_latency = max(self.max_latency, time.monotonic() - t0)
                if 200 <= r.status < 300:
                    self.ok += 1
                else:
                    self.errors += 1
                    self.last_error = "status %d" % r.status
                if r.header("connection", "").lower() == "close":
                    conn.close()
                    conn = None
                    self.reconnects += 1
            except Exception as e:   # counted, reported by the test
                self.errors += 1
                self.last_error = repr(e)
                if conn:
                    conn.close()
                conn = None
            time.sleep(0.01)
        if conn:
            conn.close()


def _storm(srv, trigger):
    stop = threading.Event()
    clients = [Client(srv.port, stop) for _ in range(CLIENTS)]
    for c in clients:
        c.start()
    try:
        assert wait_for(lambda: sum(c.ok for c in clients) > CLIENTS, 20)
        trigger(stop)
    finally:
        stop.set()
        for c in clients:
            c.join(20)
    ok = sum(c.ok for c in clients)
    errors = [c.last_error for c in clients if c.errors]
    worst = max(c.max_latency for c in clients)
    return ok, errors, worst


def _graceful_restarts(srv):
    def trigger(stop):
        t_end = time.monotonic() + STORM_SECONDS
        for i in range(RESTARTS):
            gen = server_status_auto(srv.port)["ParentServerMPMGeneration"]
            srv.signal(signal.SIGUSR1)
            assert wait_for(lambda: server_status_auto(srv.port)
                            ["ParentServerMPMGeneration"] == gen + 1, 10), \
                "restart %d did not complete" % i
            # spread the restarts over the storm
            pause = (t_end - time.monotonic()) / max(1, RESTARTS - i)
            time.sleep(max(0.0, min(pause, 2.0)))
    return trigger


@pytest.mark.slow
def test_graceful_restart_storm_loses_no_request(apache_factory):
    srv = apache_factory(keepalive_timeout=30, max_keepalive_requests=0,
                         mpm={"StartServers": 2, "ServerLimit": 16,
                              "ThreadsPerChild": 25, "MaxRequestWorkers": 100,
                              "MinSpareThreads": 25, "MaxSpareThreads": 75})
    ok, errors, worst = _storm(srv, _graceful_restarts(srv))
    assert ok > 1000, "too few requests (%d) to mean anything" % ok
    assert not errors, "%d clients saw errors, e.g. %s" % (len(errors), errors[:3])
    assert worst < 1.0, "a request stalled %.2f s" % worst
    # old generations are gone within the drain window plus a bit
    assert wait_for(lambda: server_status_auto(srv.port)["Stopping"] == 0, 10)


@pytest.mark.slow
def test_recycling_storm_loses_no_request(apache_factory):
    """MaxConnectionsPerChild 50 recycles children every few seconds
    (MaxKeepAliveRequests 20 makes the clients reconnect all the time)."""
    srv = apache_factory(keepalive_timeout=30, max_keepalive_requests=20,
                         mpm={"StartServers": 2, "ServerLimit": 16,
                              "ThreadsPerChild": 25, "MaxRequestWorkers": 100,
                              "MinSpareThreads": 25, "MaxSpareThreads": 75,
                              "MaxConnectionsPerChild": 50})
    seen = set(srv.children())

    def trigger(stop):
        t_end = time.monotonic() + STORM_SECONDS / 2
        while time.monotonic() < t_end:
            seen.update(srv.children())
            time.sleep(0.2)
    ok, errors, worst = _storm(srv, trigger)
    assert ok > 1000, "too few requests (%d)" % ok
    assert not errors, "%d clients saw errors, e.g. %s" % (len(errors), errors[:3])
    assert len(seen) > 4, "children were not recycled (%d pids seen)" % len(seen)
