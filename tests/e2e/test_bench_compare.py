"""Smoke test of bench/compare (BENCHMARKS.md): a few seconds of its
scenarios against hybrid and the stock event MPM on loopback; the table,
the chart and the raw results it writes must be complete and plausible, and
it must leave no server running.  Also: wrk's output is parsed right, a
server that cannot start makes the tool fail instead of printing a table,
and --client-batch really runs the load generator SCHED_BATCH.

The tool starts and stops its servers itself (free 127.0.0.1 ports, killed
by pid); this test only runs it, bounded by a timeout.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import conftest

COMPARE = os.path.join(conftest.REPO, "bench", "compare")
sys.path.insert(0, os.path.join(conftest.REPO, "bench"))
from benchcmp.loadgen import client_setup, parse_wrk  # noqa: E402

pytestmark = pytest.mark.skipif(
    conftest.MPM != "hybrid", reason="bench/compare compares hybrid with event itself")

SCENARIO_LABELS = {"ka50": "keep-alive, 50 conns", "close50": "Connection: close, 50 conns"}
METRIC_LABELS = ["rps", "p99 latency", "socket errors", "requests per server CPU second",
                 "context switches per request"]
SECONDS = 2


@pytest.fixture
def scratch():
    """A directory under /tmp that www-data can reach, for the tool's
    servers (TMPDIR); removed afterwards."""
    path = conftest.make_tree(prefix="hyb-e2e-compare-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_compare(args, scratch, timeout=180):
    env = dict(os.environ, TMPDIR=scratch)
    return subprocess.run([sys.executable, COMPARE] + args, capture_output=True,
                          text=True, timeout=timeout, env=env)


def assert_cleaned_up(scratch):
    assert not our_servers(), "bench/compare left servers running"
    assert not os.listdir(scratch), "bench/compare left %s" % os.listdir(scratch)


def number(cell):
    """'11 230 [10 000..12 000]' or '28.7 ms' -> 11230.0 / 28.7."""
    m = re.match(r"^([\d ]+(?:\.\d+)?)(?: ms)?(?: \[.*\])?$", cell.strip())
    assert m, "not a number: %r" % cell
    return float(m.group(1).replace(" ", ""))


def table_rows(stdout):
    """{row label: [cells]} of the markdown table printed on stdout."""
    lines = [l for l in stdout.splitlines() if l.startswith("|")]
    assert lines, "no table in the output:\n" + stdout
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head == ["scenario", "hybrid", "event", "hybrid / event"], head
    assert set(lines[1]) <= set("|-"), lines[1]
    return {cells[0]: cells[1:] for cells in
            ([c.strip() for c in l.strip("|").split("|")] for l in lines[2:])}


def our_servers():
    """Processes still running from a bench/compare scratch directory."""
    found = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"bench-compare-" in cmd and b"apache2" in cmd:
            found.append(int(d))
    return found


def test_compare_hybrid_and_event(tmp_path, scratch):
    out = tmp_path / "out"
    p = run_compare(["--hybrid-so", conftest.MPM_SO, "--mpm", "event", "--nginx", "off",
                     "--scenarios", "ka50,close50", "--seconds", str(SECONDS),
                     "--repeat", "1", "--warmup", "0", "--out", str(out)],
                    scratch)
    assert p.returncode == 0, p.stdout + p.stderr
    assert_cleaned_up(scratch)

    rows = table_rows(p.stdout)
    assert len(rows) == len(SCENARIO_LABELS) * len(METRIC_LABELS), rows
    for scen in SCENARIO_LABELS.values():
        for metric in METRIC_LABELS:
            hyb, ev, ratio = rows["%s: %s" % (scen, metric)]
            if metric == "socket errors":
                assert re.match(r"^\d+( \(\+[\d ]+ non-2xx\))?$", hyb) and ratio == ""
                continue
            assert number(hyb) > 0 and number(ev) > 0, (scen, metric, hyb, ev)
            assert re.match(r"^\d+\.\d\dx$", ratio), (scen, metric, ratio)
            assert abs(float(ratio[:-1]) - number(hyb) / number(ev)) < 0.02 + 0.01 * number(hyb) / number(ev)
        assert number(rows["%s: rps" % scen][0]) > 100, rows["%s: rps" % scen]
    assert (out / "table.md").read_text().split("\n\n", 1)[1] in p.stdout

    runs = json.loads((out / "results.json").read_text())["runs"]
    assert len(runs) == 4
    for r in runs:
        assert r["requests"] > 0 and r["server_cpu_s"] > 0 and r["context_switches"] > 0, r
        # the server's own CPU time, not the machine's: at most its cpus' share
        assert r["server_cpu_s"] <= (SECONDS + 1) * os.cpu_count(), r
        assert abs(r["req_per_srv_cpu_s"] - r["requests"] / r["server_cpu_s"]) < 1e-6
        assert r["server_processes"] >= 5, r    # parent + 4 children

    svg = ET.parse(str(out / "chart.svg")).getroot()
    assert svg.tag.endswith("svg")
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in svg.iter(ns + "rect") if r.find(ns + "title") is not None]
    titles = sorted(b.find(ns + "title").text.split(":")[0] for b in bars)
    assert titles == sorted("%s %s" % (v, s) for v in ("hybrid", "event")
                            for s in SCENARIO_LABELS for _ in range(4)), titles
    assert all(float(b.get("height")) > 0 for b in bars)


def test_a_server_that_cannot_start_fails_the_run(tmp_path, scratch):
    bad = tmp_path / "mod_mpm_broken.so"
    bad.write_bytes(b"not an ELF file\n")
    p = run_compare(["--no-hybrid", "--mpm", "event", "--mpm", "broken=%s" % bad,
                     "--nginx", "off", "--scenarios", "ka50", "--seconds", "1",
                     "--repeat", "1", "--warmup", "0", "--pin", "none", "--client-batch",
                     "--out", str(tmp_path / "out")], scratch, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "broken   ka50     FAILED" in p.stderr, p.stderr
    assert rows_of_broken(p.stdout) == ["n/a"], p.stdout
    assert_cleaned_up(scratch)
    # the run says how its load generator ran
    assert "not pinned, wrk SCHED_BATCH;" in (tmp_path / "out" / "table.md").read_text()
    assert json.loads((tmp_path / "out" / "results.json").read_text())["meta"]["client_batch"]


def policy_after(setup):
    """The scheduling policy and cpus of a child started with setup."""
    out = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0),"
                          " sorted(os.sched_getaffinity(0)))"],
                         capture_output=True, text=True, preexec_fn=setup, check=True).stdout
    return out.split(" ", 1)[0], out.split(" ", 1)[1].strip()


def test_client_batch_runs_the_load_generator_sched_batch():
    cpu = sorted(os.sched_getaffinity(0))[-1]
    assert client_setup(None, False) is None
    assert policy_after(client_setup(None, True))[0] == str(os.SCHED_BATCH)
    assert policy_after(client_setup(cpu, True)) == (str(os.SCHED_BATCH), "[%d]" % cpu)
    assert policy_after(client_setup(cpu, False)) == (str(os.SCHED_OTHER), "[%d]" % cpu)


def rows_of_broken(stdout):
    head = [l for l in stdout.splitlines() if l.startswith("| scenario")][0]
    col = [c.strip() for c in head.strip("|").split("|")].index("broken")
    rps = [l for l in stdout.splitlines() if l.startswith("| keep-alive, 50 conns: rps")][0]
    return [[c.strip() for c in rps.strip("|").split("|")][col]]


WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8080/index.html
  1 threads and 400 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    30.12ms   10.01ms   1.20s    90.00%
    Req/Sec    11.10k     1.00k   12.00k    70.00%
  Latency Distribution
     50%   28.00ms
     75%   31.00ms
     90%   40.00ms
     99%    1.25s
  22211 requests in 2.00s, 27.12MB read
  Socket errors: connect 3, read 2, write 1, timeout 4
  Non-2xx or 3xx responses: 7
Requests/sec:  11105.50
Transfer/sec:     13.56MB
"""


def test_parse_wrk():
    assert parse_wrk(WRK_OUTPUT) == {"requests": 22211, "rps": 11105.5, "p99_ms": 1250.0,
                                     "socket_errors": 10, "non2xx": 7}
    assert parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n") == {
        "requests": None, "rps": None, "p99_ms": None, "socket_errors": 0, "non2xx": 0}
