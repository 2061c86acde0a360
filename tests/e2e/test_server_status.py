"""mod_status contract: ?auto keys, async table, scoreboard shape, live counts."""

import re

from conftest import (MPM_NAME, HttpConn, http_get, server_status_auto, wait_for)

ASYNC_KEYS = ["ServerMPM", "ParentServerConfigGeneration", "ParentServerMPMGeneration",
              "Total Accesses", "BusyWorkers", "GracefulWorkers", "IdleWorkers",
              "Processes", "Stopping", "ConnsTotal", "ConnsAsyncWaitIO",
              "ConnsAsyncWriting", "ConnsAsyncKeepAlive", "ConnsAsyncClosing",
              "Scoreboard"]


def test_status_auto_has_async_keys(apache):
    st = server_status_auto(apache.port)
    missing = [k for k in ASYNC_KEYS if k not in st]
    assert not missing, "missing ?auto keys %s in %s" % (missing, st)
    assert st["ServerMPM"] == MPM_NAME
    for k in ASYNC_KEYS[1:-1]:
        assert isinstance(st[k], int), "%s is not an integer: %r" % (k, st[k])
    # Key order as printed by mod_status for async MPMs (exporters rely on it
    # only loosely, but a missing IS_ASYNC answer drops the whole block).
    text = http_get(apache.port, "/server-status?auto").body.decode()
    order = [text.find("\n%s:" % k) for k in ("BusyWorkers", "Processes", "ConnsTotal",
                                              "ConnsAsyncClosing", "Scoreboard")]
    assert all(i > 0 for i in order) and order == sorted(order), text


def test_status_scoreboard_shape(apache_factory):
    # 2 children x 5 threads, MaxRequestWorkers 15 -> 3 daemons max,
    # scoreboard printed for MaxRequestWorkers/ThreadsPerChild x ThreadsPerChild.
    srv = apache_factory(mpm={"StartServers": 2, "ServerLimit": 4, "ThreadsPerChild": 5,
                              "MaxRequestWorkers": 15, "MinSpareThreads": 5,
                              "MaxSpareThreads": 15})
    st = {}

    def settled():
        st.clear()
        st.update(server_status_auto(srv.port))
        return st["Processes"] == 2 and st["BusyWorkers"] + st["IdleWorkers"] == 10
    assert wait_for(settled, 10), "expected 2 processes x 5 threads, got %s" % st
    sb = st["Scoreboard"]
    assert len(sb) == 15, "scoreboard %r should have 15 cells" % sb
    assert set(sb) <= set("_SRWKDCLGI."), sb
    assert sb.count("_") + sb.count("W") + sb.count("R") == 10, sb
    # One of the three 5-cell slots is empty; which one depends on where
    # spare-thread upkeep put the children while they were starting.
    assert [sb[i:i + 5] for i in (0, 5, 10)].count(".....") == 1, sb
    assert st["BusyWorkers"] >= 1          # this request
    assert st["Stopping"] == 0 and st["GracefulWorkers"] == 0
    assert len(srv.children()) == 2


def test_status_html_has_async_table(apache):
    r = http_get(apache.port, "/server-status")
    assert r.status == 200
    html = r.body.decode("latin-1")
    assert re.search(r"Server MPM:\s*%s" % MPM_NAME, html), html[:2000]
    for col in ("Slot", "PID", "Stopping", "Connections", "Threads", "Async connections",
                "wait-io", "writing", "keep-alive", "closing"):
        assert "<th" in html and col in html, "column %r missing from async table" % col
    # One row per live child with its pid, plus the Sum row.
    for pid in apache.children():
        assert re.search(r"<tr><td>\d+</td><td>%d</td>" % pid, html), \
            "child %d missing from async table" % pid
    assert "<td>Sum</td>" in html


def _conns(port, n):
    conns = []
    for _ in range(n):
        c = HttpConn(port, timeout=5)
        r = c.request("/small.txt")
        assert r.status == 200
        conns.append(c)
    return conns


def test_status_keepalive_count_is_exact(apache_factory):
    srv = apache_factory(keepalive_timeout=30)
    n = 5
    conns = _conns(srv.port, n)
    st = {}
    try:
        def ka_is(v):
            def cond():
                st.clear()
                st.update(server_status_auto(srv.port))
                return st["ConnsAsyncKeepAlive"] == v
            return cond
        assert wait_for(ka_is(n), 1.0), \
            "ConnsAsyncKeepAlive should be %d right away, status: %s" % (n, st)
        assert st["ConnsTotal"] >= n, st
        # The per-process rows in the HTML table add up to the same number.
        html = http_get(srv.port, "/server-status").body.decode("latin-1")
        m = re.search(r"<td>Sum</td>((?:<td>[^<]*</td>)+)</tr>", html)
        assert m, html
        cells = re.findall(r"<td>([^<]*)</td>", m.group(1))
        assert int(cells[-2]) == n, "Sum row keep-alive column: %s" % cells
    finally:
        for c in conns:
            c.close()
    assert wait_for(ka_is(0), 3.0), "ConnsAsyncKeepAlive did not return to 0: %s" % st
    assert wait_for(lambda: server_status_auto(srv.port)["ConnsTotal"] <= 1, 3.0)


def test_status_counts_accesses(apache):
    before = server_status_auto(apache.port)["Total Accesses"]
    for _ in range(10):
        assert http_get(apache.port, "/small.txt").status == 200
    # The counter may be bumped just after the client has the response, and
    # every status poll is itself an access: 10 requests + the first status
    # request + one per poll.
    polls = []

    def counted():
        polls.append(server_status_auto(apache.port)["Total Accesses"])
        return polls[-1] - before >= 11
    assert wait_for(counted, 3), (before, polls)
    assert 11 <= polls[-1] - before <= 10 + len(polls), (before, polls)
