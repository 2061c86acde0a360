"""Monitoring: what the status page, ?auto and the hybrid-metrics handler show
of connections the listener holds (slow clients, idle keep-alive), checked
with Debian's apache_exporter and promtool.

The two Debian tools are used without installing their packages (whose
services would start): from PATH when present, else unpacked with
`dpkg-deb -x` from a .deb in /var/cache/apt/archives or fetched with
`apt-get download` into a temp dir.  Without them the tests that need them
fail (test dependencies: prometheus, prometheus-apache-exporter, downloaded
by `make test-deps`).
"""

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading

import pytest

from conftest import (MPM, REPO, HttpConn, KeepAliveLoad, free_ports, http_get,
                      idle_clients, make_tree, server_status_auto, sleepers_per_child,
                      wait_for)

SLOW = 20           # clients that send part of a request head, then stall
IDLE = 200          # keep-alive clients idle after one request
LOADERS = 4         # keep-alive clients requesting in a loop

MPM_2X25 = {"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 25,
            "MaxRequestWorkers": 50, "MinSpareThreads": 25, "MaxSpareThreads": 75}
METRICS_LOCATION = "<Location /metrics>\n    SetHandler hybrid-metrics\n</Location>\n"

hybrid_only = pytest.mark.skipif(MPM != "hybrid", reason="hybrid's own page, keys and handler")


# --------------------------------------------------------------------------
# Debian tools, unpacked, never installed
# --------------------------------------------------------------------------

_TOOL_DIRS = []


def _debian_tool(pkg, binary):
    """Path of /usr/bin/<binary> of Debian package pkg, or None."""
    found = shutil.which(binary)
    if found:
        return found
    tmp = tempfile.mkdtemp(prefix="hyb-e2e-tool-", dir="/tmp")
    _TOOL_DIRS.append(tmp)
    debs = sorted(glob.glob("/var/cache/apt/archives/%s_*.deb" % pkg))
    if not debs:
        try:
            subprocess.run(["apt-get", "download", pkg], cwd=tmp, capture_output=True,
                           timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return None
        debs = sorted(glob.glob(os.path.join(tmp, "%s_*.deb" % pkg)))
    if not debs:
        return None
    root = os.path.join(tmp, "root")
    p = subprocess.run(["dpkg-deb", "-x", debs[-1], root], capture_output=True, timeout=120)
    path = os.path.join(root, "usr", "bin", binary)
    return path if p.returncode == 0 and os.access(path, os.X_OK) else None


@pytest.fixture(scope="module")
def tools():
    t = {"exporter": _debian_tool("prometheus-apache-exporter", "prometheus-apache-exporter"),
         "promtool": _debian_tool("prometheus", "promtool")}
    missing = [k for k, v in t.items() if not v]
    # make test-deps downloads both packages; without them these tests
    # would check nothing, so they fail rather than skip.
    assert not missing, ("%s not found (PATH, apt cache, apt-get download): "
                         "run 'make test-deps'" % ", ".join(missing))
    yield t
    for d in _TOOL_DIRS:
        shutil.rmtree(d, ignore_errors=True)


class Exporter:
    """prometheus-apache-exporter on a free loopback port, scraping srv."""

    def __init__(self, binary, srv):
        self.port = free_ports(1)[0]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [binary, "--telemetry.address=127.0.0.1:%d" % self.port,
             "--scrape_uri=http://127.0.0.1:%d/server-status?auto" % srv.port],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def metrics(self):
        r = http_get(self.port, "/metrics", timeout=10)
        assert r.status == 200, r
        return r.body.decode()

    def log_text(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def exporter_factory(tools):
    started = []

    def make(srv):
        if not tools["exporter"]:
            pytest.skip("prometheus-apache-exporter not available (PATH, apt cache, apt-get download)")
        e = Exporter(tools["exporter"], srv)
        started.append(e)
        assert wait_for(lambda: http_get(e.port, "/", timeout=2), 10), e.log_text()
        return e

    yield make
    for e in started:
        e.stop()


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

def slow_clients(port, n):
    """n connections that sent a request line and one header, no end."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /small.txt?slow=%d HTTP/1.1\r\nHost: localhost\r\n" % i)
        socks.append(s)
    return socks


def close_all(items):
    for x in items:
        try:
            x.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

def prom_samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, "bad sample line %r" % line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def prom_sum(samples, name, **want):
    return sum(v for (n, labels), v in samples.items()
               if n == name and all((k, str(x)) in labels for k, x in want.items()))


def hybrid_table(html):
    """Rows of the hybrid table: {slot or 'Sum': [cells]}."""
    m = re.search(r'<table id="hybrid-processes".*?</table>', html, re.S)
    assert m, "no hybrid table in the status page"
    rows = {}
    for row in re.findall(r"<tr>(<td>.*?)</tr>", m.group(0), re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        rows[cells[0]] = cells
    return rows


# Columns of the hybrid table after Slot, PID, accepting, queue load.
COLS = ["total", "gathering", "keep-alive", "writing", "wait-io", "closing", "in a worker"]


def table_counts(cells):
    return dict(zip(COLS, (int(c) for c in cells[4:4 + len(COLS)])))


def promtool_check(promtool, text):
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

@hybrid_only
def test_slow_idle_and_busy_clients_are_visible(apache_factory, exporter_factory, tools):
    """20 slow clients + 200 idle keep-alive + load on 2 x 25 workers: the
    gathering column shows the 20 and every column adds up to total; ?auto
    sums agree; apache_exporter parses the page; the metrics handler passes
    promtool and shows the same counts."""
    srv = apache_factory(mpm=MPM_2X25, keepalive_timeout=60, timeout=60,
                         max_keepalive_requests=0, extra=METRICS_LOCATION)
    idle = idle_clients(srv.port, IDLE)
    slow = slow_clients(srv.port, SLOW)
    load = KeepAliveLoad(srv.port, LOADERS)
    try:
        def gathering_seen():
            st = server_status_auto(srv.port)
            return st if (st.get("ConnsAsyncGathering") == SLOW
                          and st["ConnsAsyncKeepAlive"] >= IDLE) else None
        st = wait_for(gathering_seen, 15)
        assert st, "?auto never showed %d gathering and %d keep-alive: %s" % (
            SLOW, IDLE, server_status_auto(srv.port))
        for k in ("HybridConnsInWorker", "HybridAccepts", "HybridHandoffsSent",
                  "HybridHandoffsReceived", "HybridDeferrals", "HybridAcceptTokenTurns",
                  "HybridHeadTimeouts", "HybridPerIPRefusals", "HybridDescriptorPauses",
                  "HybridSaturationEpisodes", "HybridSaturationSeconds",
                  "HybridProcessesSaturated", "HybridQueueWaitCount",
                  "HybridQueueWaitSeconds"):
            assert k in st, "?auto key %s missing: %s" % (k, st)

        # Under load: the page renders, the table's columns add up per row.
        html = http_get(srv.port, "/server-status").body.decode("latin-1")
        rows = hybrid_table(html)
        pids = {int(re.match(r"\d+", c[1]).group(0)) for s, c in rows.items() if s != "Sum"}
        assert pids == set(srv.children()), (pids, srv.children(), rows)
        for slot, cells in rows.items():
            c = table_counts(cells)
            assert c["total"] == sum(c[k] for k in COLS[1:]), (slot, cells)
        assert table_counts(rows["Sum"])["gathering"] == SLOW, rows["Sum"]

        # The exporter parses the page while the load runs.
        exp = exporter_factory(srv)
        text = exp.metrics()
        assert re.search(r"^apache_up 1$", text, re.M), text
        assert re.search(r'^apache_connections\{state="keepalive"\} (\d+)', text, re.M), text
        assert "level=error" not in exp.log_text(), exp.log_text()
        exp.stop()          # its own keep-alive connection would count below

        # The metrics handler under load: valid for promtool.
        r = http_get(srv.port, "/metrics")
        assert r.status == 200
        assert r.header("content-type").startswith("text/plain; version=0.0.4"), r.headers
        if tools["promtool"]:
            rc, out = promtool_check(tools["promtool"], r.body.decode())
            assert rc == 0, "promtool check metrics failed:\n%s\n---\n%s" % (out, r.body.decode())
    finally:
        errors = load.stop()
    assert not errors, errors
    assert load.count > 0

    # Quiet now (only the status requests themselves run): every view
    # gives the same counts.
    def consistent():
        st = server_status_auto(srv.port)
        parked = sum(st[k] for k in ("ConnsAsyncGathering", "ConnsAsyncKeepAlive",
                                     "ConnsAsyncWriting", "ConnsAsyncWaitIO",
                                     "ConnsAsyncClosing"))
        ok = (st["ConnsTotal"] == parked + st["HybridConnsInWorker"]
              and st["ConnsAsyncGathering"] == SLOW
              and st["ConnsAsyncKeepAlive"] == IDLE
              and st["HybridConnsInWorker"] <= 1)
        return st if ok else None
    st = wait_for(consistent, 10)
    assert st, "?auto sums do not add up: %s" % server_status_auto(srv.port)

    r = http_get(srv.port, "/metrics")
    s = prom_samples(r.body.decode())
    assert prom_sum(s, "hybrid_connections", state="gathering") == SLOW
    assert prom_sum(s, "hybrid_connections", state="keepalive") == IDLE
    assert prom_sum(s, "hybrid_connections") == prom_sum(s, "hybrid_connections_open")
    for slot in range(2):
        assert prom_sum(s, "hybrid_connections", slot=slot) == \
            prom_sum(s, "hybrid_connections_open", slot=slot)
        assert prom_sum(s, "hybrid_queue_wait_seconds_bucket", slot=slot, le="+Inf") == \
            prom_sum(s, "hybrid_queue_wait_seconds_count", slot=slot)
    assert prom_sum(s, "hybrid_workers", state="idle") + \
        prom_sum(s, "hybrid_workers", state="busy") == 50
    assert prom_sum(s, "hybrid_child_accepting") == 2
    close_all(slow)
    close_all(idle)


def test_apache_exporter_parses_status_with_slow_clients(apache_factory, exporter_factory):
    """The standard ?auto keys stay parseable with the hybrid keys after
    them; slow clients: event shows them as 'read' workers, hybrid as
    ConnsAsyncGathering (they hold no worker)."""
    srv = apache_factory(mpm=MPM_2X25, timeout=60)
    slow = slow_clients(srv.port, SLOW)
    try:
        key = "ConnsAsyncGathering" if MPM == "hybrid" else "BusyWorkers"
        assert wait_for(lambda: server_status_auto(srv.port).get(key, 0) >= SLOW, 15), \
            server_status_auto(srv.port)
        exp = exporter_factory(srv)
        text = exp.metrics()
        assert re.search(r"^apache_up 1$", text, re.M), text
        read = re.search(r'^apache_scoreboard\{state="read"\} (\d+)', text, re.M)
        assert read, text
        if MPM == "hybrid":
            assert int(read.group(1)) == 0
        else:
            assert int(read.group(1)) >= SLOW
        assert "level=error" not in exp.log_text(), exp.log_text()
    finally:
        close_all(slow)


@hybrid_only
def test_metrics_handler_off_unless_configured_and_access_rules_apply(apache_factory, tools):
    srv = apache_factory(modules=("authz_host",), extra=METRICS_LOCATION
                         + "<Location /metrics-denied>\n    SetHandler hybrid-metrics\n"
                           "    Require ip 192.0.2.1\n</Location>\n")
    assert http_get(srv.port, "/nothing-here").status == 404
    assert http_get(srv.port, "/metrics-denied").status == 403
    with HttpConn(srv.port) as c:
        assert c.request("/metrics", method="POST", body=b"x").status == 405
    with HttpConn(srv.port) as c:
        r = c.request("/metrics", method="HEAD")
        assert r.status == 200 and r.body == b""
    r = http_get(srv.port, "/metrics")
    assert r.status == 200
    body = r.body.decode()
    s = prom_samples(body)
    assert len({dict(l)["slot"] for (n, l), _ in s.items()
                if n == "hybrid_child_pid"}) == 2, body
    assert "# TYPE hybrid_queue_wait_seconds histogram" in body
    if tools["promtool"]:
        rc, out = promtool_check(tools["promtool"], body)
        assert rc == 0, out


@hybrid_only
def test_metrics_and_table_survive_restarts(apache_factory):
    """The counters' segment is found again after the module is reloaded
    (graceful and plain restarts): no HYB0111, the page and handler work."""
    import signal
    srv = apache_factory(extra=METRICS_LOCATION)
    for sig in (signal.SIGUSR1, signal.SIGHUP):
        old = set(srv.children())
        srv.signal(sig)
        assert wait_for(lambda: len(set(srv.children()) - old) >= 2
                        and server_status_auto(srv.port).get("Processes") == 2, 20), \
            (sig, srv.children(), srv.log_text()[-2000:])
        r = http_get(srv.port, "/metrics")
        assert r.status == 200, (sig, r)
        assert "hybrid_queue_wait_seconds_count" in r.body.decode()
        assert "HybridAccepts" in http_get(srv.port, "/server-status?auto").body.decode()
        hybrid_table(http_get(srv.port, "/server-status").body.decode("latin-1"))
    assert "HYB0111" not in srv.log_text()


@hybrid_only
def test_listener_counters_count_accepts_head_timeouts_and_per_ip_refusals(apache_factory):
    """The listener's counters move: accepts per new connection, a head that
    times out in the listener (408), a connection refused by
    HybridGatherPerIP; ?auto and the metrics handler say the same."""
    one_child = {"StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": 25,
                 "MaxRequestWorkers": 25, "MinSpareThreads": 1, "MaxSpareThreads": 50}
    # One child: HybridGatherPerIP counts per child.
    srv = apache_factory(mpm=one_child, modules=("reqtimeout",), extra=METRICS_LOCATION
                         + "RequestReadTimeout header=1\nHybridGatherPerIP 1\n")
    before = server_status_auto(srv.port)
    for _ in range(5):
        assert http_get(srv.port, "/").status in (200, 403, 404)
    # One stalled head: held by the listener, then timed out (408).
    stalled = socket.create_connection(("127.0.0.1", srv.port))
    stalled.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    # A second head from the same address while the first waits: refused.
    assert wait_for(lambda: server_status_auto(srv.port)["ConnsAsyncGathering"] >= 1, 5)
    refused = socket.create_connection(("127.0.0.1", srv.port))
    refused.sendall(b"GET / HTTP/1.1\r\n")
    try:
        def moved():
            st = server_status_auto(srv.port)
            return (st["HybridHeadTimeouts"] - before["HybridHeadTimeouts"] >= 1
                    and st["HybridPerIPRefusals"] - before["HybridPerIPRefusals"] >= 1) and st
        st = wait_for(moved, 10)
        assert st, {k: v for k, v in server_status_auto(srv.port).items()
                    if k.startswith(("Hybrid", "Conns"))}
        assert st["HybridAccepts"] - before["HybridAccepts"] >= 7, st
        stalled.settimeout(5)
        assert stalled.recv(64).startswith(b"HTTP/1.1 408"), "no 408 for the stalled head"
    finally:
        stalled.close()
        refused.close()
    s = prom_samples(http_get(srv.port, "/metrics").body.decode())
    assert prom_sum(s, "hybrid_head_timeouts_total") >= 1, s
    assert prom_sum(s, "hybrid_accepts_total") >= 7, s


# --------------------------------------------------------------------------
# Counters fed by the listener and the workers: queue wait, saturation,
# deferrals and the reason a child does not accept
# --------------------------------------------------------------------------

MPM_2X2 = {"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 2,
           "MaxRequestWorkers": 4, "MinSpareThreads": 1, "MaxSpareThreads": 4}


def _sleep_conf(so):
    return ("LoadModule hyb_test_module %s\n<Location /sleep>\n"
            "    SetHandler hyb-test-sleep\n</Location>\n" % so) + METRICS_LOCATION


def _wait_histogram(port):
    """{le: cumulative count over the slots}, count, of hybrid_queue_wait_seconds."""
    s = prom_samples(http_get(port, "/metrics").body.decode())
    les = {dict(l)["le"] for (n, l), _ in s.items() if n == "hybrid_queue_wait_seconds_bucket"}
    hist = {le: prom_sum(s, "hybrid_queue_wait_seconds_bucket", le=le) for le in les}
    return hist, prom_sum(s, "hybrid_queue_wait_seconds_count")


def _concurrent_gets(port, paths, timeout):
    """GET each path on its own connection, all at once; the statuses."""
    out, threads = [None] * len(paths), []

    def run(i, path):
        try:
            out[i] = http_get(port, path, timeout=timeout).status
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out[i] = repr(e)
    for i, p in enumerate(paths):
        threads.append(threading.Thread(target=run, args=(i, p), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    return out


@hybrid_only
def test_queue_wait_histogram_and_saturation_move_when_workers_are_short(
        apache_factory, hyb_test_module, tools):
    """2 x 2 workers, 12 requests of 0.3 s at once: connections wait in the
    queues behind the sleeping ones, so the histogram counts waits above
    0.1 s; the children are saturated for a while, and once the load is
    over no episode is open and their total length is above 0."""
    srv = apache_factory(mpm=MPM_2X2, extra=_sleep_conf(hyb_test_module))
    assert wait_for(lambda: len(srv.children()) == 2, 5), srv.children()
    statuses = _concurrent_gets(srv.port, ["/sleep?ms=300"] * 12, timeout=20)
    assert statuses == [200] * 12, statuses

    hist, count = _wait_histogram(srv.port)
    assert count >= 12, (count, hist)
    assert hist["+Inf"] == count
    slow = count - hist["0.1"]
    assert slow >= 1, "no queue wait above 0.1 s: %s" % sorted(hist.items())

    def episode_over():
        st = server_status_auto(srv.port)
        return st if st["HybridProcessesSaturated"] == 0 else None
    st = wait_for(episode_over, 5)
    assert st, server_status_auto(srv.port)
    assert st["HybridSaturationEpisodes"] >= 1, st
    assert float(st["HybridSaturationSeconds"]) > 0, st
    body = http_get(srv.port, "/metrics").body.decode()
    s = prom_samples(body)
    assert prom_sum(s, "hybrid_saturation_episodes_total") == st["HybridSaturationEpisodes"]
    assert prom_sum(s, "hybrid_saturation_seconds_total") > 0
    rc, out = promtool_check(tools["promtool"], body)
    assert rc == 0, "promtool check metrics failed:\n%s\n---\n%s" % (out, body)


@hybrid_only
def test_queue_wait_stays_in_the_lowest_bucket_without_load(apache_factory, hyb_test_module):
    """Quick requests one after another on 2 x 2 workers: every connection
    finds an idle worker, its wait is counted, in the lowest bucket
    (1 ms; a few above it are a loaded test machine, none reaches 25 ms),
    and no saturation episode opens."""
    n = 60
    srv = apache_factory(mpm=MPM_2X2, extra=_sleep_conf(hyb_test_module))
    assert wait_for(lambda: len(srv.children()) == 2, 5), srv.children()
    for _ in range(n):
        assert http_get(srv.port, "/sleep?ms=0").status == 200
    hist, count = _wait_histogram(srv.port)
    assert count >= n, (count, hist)
    assert hist["0.025"] == count, sorted(hist.items())
    assert hist["0.001"] >= 0.9 * count, sorted(hist.items())
    st = server_status_auto(srv.port)
    assert st["HybridSaturationEpisodes"] == 0, st


@hybrid_only
def test_full_child_defers_and_says_why(apache_factory, hyb_test_module):
    """2 x 2 workers, 3 long requests: one child has both workers asleep
    while its sibling has an idle one, so it leaves new connections to the
    sibling: HybridDeferrals moves, and the status table and the metric
    say "deferring" for it instead of a bare "no"."""
    srv = apache_factory(mpm=MPM_2X2, extra=_sleep_conf(hyb_test_module))
    assert wait_for(lambda: len(srv.children()) == 2, 5), srv.children()
    before = server_status_auto(srv.port)["HybridDeferrals"]
    sleepers = []
    try:
        for k in range(1, 4):
            c = HttpConn(srv.port, timeout=20)
            c.send(b"GET /sleep?ms=10000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            sleepers.append(c)
            assert wait_for(lambda: sum(sleepers_per_child(srv).values()) == k, 5), \
                "sleeper %d not in a worker: %s" % (k, sleepers_per_child(srv))
        assert sorted(sleepers_per_child(srv).values()) == [1, 2]
        st = wait_for(lambda: (lambda s: s if s["HybridDeferrals"] > before else None)(
            server_status_auto(srv.port)), 5)
        assert st, server_status_auto(srv.port)

        # The full child defers until its sibling is as busy; a status
        # request takes the sibling's last idle worker, so the state is
        # polled (each poll lands on either child).
        def deferring_row():
            rows = hybrid_table(http_get(srv.port, "/server-status").body.decode("latin-1"))
            return [c for slot, c in rows.items() if slot != "Sum" and c[2] == "deferring"]
        assert wait_for(deferring_row, 5, interval=0.1), \
            hybrid_table(http_get(srv.port, "/server-status").body.decode("latin-1"))

        def deferring_metric():
            s = prom_samples(http_get(srv.port, "/metrics").body.decode())
            return prom_sum(s, "hybrid_child_accept_state", state="deferring") == 1
        assert wait_for(deferring_metric, 5, interval=0.1)
        s = prom_samples(http_get(srv.port, "/metrics").body.decode())
        for slot in range(2):       # a state set: one state per child
            assert prom_sum(s, "hybrid_child_accept_state", slot=slot) == 1, s
        assert prom_sum(s, "hybrid_deferrals_total") >= 1
    finally:
        close_all(sleepers)


def _accept_states(port):
    """{slot: state} from hybrid_child_accept_state (the state that is 1)."""
    s = prom_samples(http_get(port, "/metrics").body.decode())
    return {int(dict(l)["slot"]): dict(l)["state"] for (n, l), v in s.items()
            if n == "hybrid_child_accept_state" and v == 1}


@hybrid_only
def test_accept_state_stopping_then_accepting_in_reused_slots(apache_factory, hyb_test_module):
    """An old child kept by a request after a graceful restart says
    "stopping"; the children that later take the slots of stopped ones
    start afresh as "accepting" (the state of a slot outlives its child)."""
    import signal
    srv = apache_factory(extra=_sleep_conf(hyb_test_module))
    assert wait_for(lambda: len(srv.children()) == 2, 5), srv.children()
    pinned = HttpConn(srv.port, timeout=20)
    try:
        pinned.send(b"GET /sleep?ms=3000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert wait_for(lambda: sum(sleepers_per_child(srv).values()) == 1, 5)
        old = set(srv.children())
        srv.signal(signal.SIGUSR1)
        assert wait_for(lambda: len(set(srv.children()) - old) >= 2, 10), srv.children()
        assert wait_for(lambda: "stopping" in _accept_states(srv.port).values(), 5), \
            _accept_states(srv.port)
        assert pinned.read_response().status == 200
    finally:
        pinned.close()
    for _ in range(2):          # the new generations take the old slots
        old = set(srv.children())
        srv.signal(signal.SIGUSR1)
        assert wait_for(lambda: not (set(srv.children()) & old)
                        and len(srv.children()) == 2, 15), srv.children()

    def all_accepting():
        st = _accept_states(srv.port)
        return st if len(st) == 2 and set(st.values()) == {"accepting"} else None
    assert wait_for(all_accepting, 5), _accept_states(srv.port)


# --------------------------------------------------------------------------
# HYB_STATS_HOLD: the benchmark build that measures preempted holds
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hold_so():
    """The module built with HYB_STATS_HOLD (stats.h), in a temp dir."""
    d = make_tree("hyb-e2e-hold-")
    p = subprocess.run(["make", "--no-print-directory", "-f", "Makefile.apxs", "BUILDDIR=" + d,
                        "HYB_EXTRA_CFLAGS=-DHYB_STATS_HOLD"], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    so = os.path.join(d, "mod_mpm_hybrid.so")
    if p.returncode != 0 or not os.path.isfile(so):
        shutil.rmtree(d, ignore_errors=True)
        pytest.fail("building with HYB_STATS_HOLD failed:\n" + (p.stdout + p.stderr)[-3000:],
                    pytrace=False)
    yield so
    shutil.rmtree(d, ignore_errors=True)


def _offcpu_histogram(port):
    """{le: cumulative count over the slots}, count, of hybrid_job_offcpu_seconds,
    and whether the queue-wait family is on the page too."""
    body = http_get(port, "/metrics").body.decode()
    s = prom_samples(body)
    name = "hybrid_job_offcpu_seconds"
    les = {dict(l)["le"] for (n, l), _ in s.items() if n == name + "_bucket"}
    return ({le: prom_sum(s, name + "_bucket", le=le) for le in les},
            prom_sum(s, name + "_count"), "hybrid_queue_wait_seconds" in body)


@hybrid_only
def test_hold_build_counts_the_time_a_worker_held_a_job_off_the_cpu(apache_factory,
                                                                   hyb_test_module, hold_so):
    """Built with HYB_STATS_HOLD, the histogram is each job's time off the
    cpu in the worker that popped it (wall time minus its cpu time), under
    its own name: a handler asleep 300 ms lands between 0.25 and 0.5 s, the
    plain requests under 0.25 s, and no queue-wait family is shown."""
    srv = apache_factory(start=False, mpm=MPM_2X25, extra=_sleep_conf(hyb_test_module))
    srv.mpm_loadmodule = "LoadModule mpm_hybrid_module %s" % hold_so
    srv.start()
    hist0, n0, qwait_shown = _offcpu_histogram(srv.port)
    assert not qwait_shown and "+Inf" in hist0, hist0
    for _ in range(4):
        assert http_get(srv.port, "/").status in (200, 403, 404)
    assert http_get(srv.port, "/sleep?ms=300").status == 200

    def counted():
        hist, n, _ = _offcpu_histogram(srv.port)
        return (hist, n) if n >= n0 + 5 else None
    assert wait_for(counted, 10), _offcpu_histogram(srv.port)
    hist, _n = counted()
    slow = (hist["+Inf"] - hist["0.25"]) - (hist0["+Inf"] - hist0["0.25"])
    assert slow == 1, (hist0, hist)
    assert hist["0.5"] - hist0["0.5"] == hist["+Inf"] - hist0["+Inf"], (hist0, hist)
