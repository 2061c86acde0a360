"""A child whose workers are all busy leaves new connections to a sibling
that has an idle one, instead of accepting them and queueing them behind
work that may last for minutes (an HTTP/2 or WebSocket connection, a slow
PHP request).

Found with a timed `h2load -c100 -m10 -D 4` over TLS on 4 x 25 workers:
one child took 26 of the 100 connections, the 26th waited for a worker
until the other 25 ended, and h2load never finished.  Here the long work is
the helper module's sleeping handler (helpers/mod_hyb_test.c) on 2 children
x 4 workers: with 7 of the 8 workers asleep, one child is full, and every
new connection must be answered at once, by the other child."""

import re
import time

from conftest import HttpConn, build_request, http_get, sleepers_per_child, wait_for

TPC = 4
SLEEP_MS = 8000
FAST_REQUESTS = 10


def _process_rows(srv):
    """(pid, accepting, busy threads) per process, from the HTML table."""
    html = http_get(srv.port, "/server-status", timeout=3).body.decode("latin-1")
    rows = re.findall(r"<tr><td>\d+</td><td>(\d+)</td><td>\w+</td><td>\d+</td>"
                      r"<td>(\w+)</td><td>(\d+)</td>", html)
    return [(pid, acc, int(busy)) for pid, acc, busy in rows]


def test_full_child_leaves_new_connections_to_its_sibling(apache_factory,
                                                          hyb_test_module):
    srv = apache_factory(
        extra="LoadModule hyb_test_module %s\n<Location /sleep>\n"
              "    SetHandler hyb-test-sleep\n</Location>\n" % hyb_test_module,
        mpm={"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": TPC,
             "MaxRequestWorkers": 2 * TPC, "MinSpareThreads": 1,
             "MaxSpareThreads": 2 * TPC})
    assert wait_for(lambda: len(srv.children()) == 2, 5), srv.children()
    sleepers = []
    try:
        # 7 sleepers, one at a time, each seen asleep in a worker.
        for k in range(1, 2 * TPC):
            c = HttpConn(srv.port, timeout=SLEEP_MS / 1000 + 10)
            c.send(build_request("/sleep?ms=%d" % SLEEP_MS))
            sleepers.append(c)
            assert wait_for(lambda: sum(sleepers_per_child(srv).values()) == k, 5), \
                "sleeper %d not in a worker: %s" % (k, sleepers_per_child(srv))
        t_full = time.monotonic()
        # The full child has stopped accepting (seen by the status request,
        # which the other child serves).
        rows = wait_for(lambda: [r for r in _process_rows(srv) if r[1] == "no"], 3)
        assert rows, "no child stopped accepting: %s" % _process_rows(srv)
        pids, slow = [], []
        for i in range(FAST_REQUESTS):
            t0 = time.monotonic()
            r = http_get(srv.port, "/sleep?ms=0", timeout=4)
            took = time.monotonic() - t0
            assert r.status == 200, r.status
            if took > 1.0:
                slow.append((i, round(took, 2)))
            pids.append(re.search(rb"pid=(\d+)", r.body).group(1))
        assert time.monotonic() - t_full < SLEEP_MS / 1000 - 2, \
            "the fast phase outlived the sleepers: the check proves nothing"
        assert not slow, "new connections queued behind busy workers: %s" % slow
        # All of them went to the child that had a free worker.
        assert len(set(pids)) == 1, pids
    finally:
        for c in sleepers:
            c.close()


LONG_MS, SHORT_MS = 15000, 3000


def _asleep_total(srv):
    return sum(sleepers_per_child(srv).values())


def _sleeper(srv, ms):
    c = HttpConn(srv.port, timeout=ms / 1000 + 10)
    c.send(build_request("/sleep?ms=%d" % ms))
    return c


def test_waiting_new_connection_is_handed_to_a_sibling(apache_factory,
                                                       hyb_test_module):
    """Every worker of both children busy at once: each child takes one of
    the new connections and queues it.  When the short requests of child B
    end, the connection queued in child A (whose requests last 15 s) must be
    handed to B and answered there, not wait for A."""
    srv = apache_factory(
        extra="LoadModule hyb_test_module %s\n<Location /sleep>\n"
              "    SetHandler hyb-test-sleep\n</Location>\n" % hyb_test_module,
        mpm={"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 2,
             "MaxRequestWorkers": 4, "MinSpareThreads": 1, "MaxSpareThreads": 4})
    assert wait_for(lambda: len(srv.children()) == 2, 5), srv.children()
    conns = []
    try:
        # Long requests until one child (A) has both workers asleep.
        for k in range(1, 4):
            conns.append(_sleeper(srv, LONG_MS))
            assert wait_for(lambda: _asleep_total(srv) == k, 5), sleepers_per_child(srv)
            if max(sleepers_per_child(srv).values()) == 2:
                break
        per = sleepers_per_child(srv)
        a = [pid for pid, n in per.items() if n == 2][0]
        b = [pid for pid in per if pid != a][0]
        # Short requests fill B (A, full, leaves them to B).
        while _asleep_total(srv) < 4:
            n = _asleep_total(srv)
            conns.append(_sleeper(srv, SHORT_MS))
            assert wait_for(lambda: _asleep_total(srv) == n + 1, 5), sleepers_per_child(srv)
        assert sleepers_per_child(srv)[a] == 2
        t0 = time.monotonic()
        fast = []
        for i in range(2):
            c = HttpConn(srv.port, timeout=LONG_MS / 1000 - 5)
            c.send(build_request("/sleep?ms=0", close=True))
            fast.append(c)
        took, pids = [], []
        for c in fast:
            r = c.read_response()
            took.append(round(time.monotonic() - t0, 2))
            pids.append(int(re.search(rb"pid=(\d+)", r.body).group(1)))
        assert max(took) < SHORT_MS / 1000 + 4, (took, pids, a, b)
        # Both were served by B (one of them after being handed over).
        assert set(pids) == {b}, (pids, a, b)
    finally:
        for c in conns:
            c.close()
