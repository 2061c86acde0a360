"""The load bench/compare applies: the scenarios, one wrk run each, and what
is read from wrk's output.

Owns: the SCENARIOS table and the wrk child process of one run (bounded by
a timeout, killed by its pid if it overruns; pinned to a cpu and, with
--client-batch, run SCHED_BATCH).  Pure parsing in parse_wrk.
"""

import os
import re
import subprocess

# name -> (label in the table, connections, extra wrk arguments)
SCENARIOS = {
    "ka50": ("keep-alive, 50 conns", 50, []),
    "ka400": ("keep-alive, 400 conns", 400, []),
    "close50": ("Connection: close, 50 conns", 50, ["-H", "Connection: close"]),
}
DEFAULT_SCENARIOS = ["ka50", "ka400", "close50"]

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out):
    """requests, rps, p99_ms, socket_errors, non2xx from `wrk --latency`
    output; a value wrk did not print is None (errors: 0)."""
    res = {"requests": None, "rps": None, "p99_ms": None,
           "socket_errors": 0, "non2xx": 0}
    m = re.search(r"^\s*(\d+) requests in ", out, re.M)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    if m:
        res["p99_ms"] = float(m.group(1)) * _UNIT_MS[m.group(2)]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    if m:
        res["socket_errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    return res


# A response slower than this counts as a timeout (a socket error); wrk's
# own default, 2 s, is below the p99 event reaches with 400 connections.
WRK_TIMEOUT_S = 5


def wrk_command(url, scenario, seconds):
    _, conns, extra = SCENARIOS[scenario]
    return (["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency",
             "--timeout", "%ds" % WRK_TIMEOUT_S] + extra + [url])


def client_setup(cpu=None, batch=False):
    """What the load generator's child does before exec, or None: pin it to
    cpu; with batch, make it SCHED_BATCH, so that its wake-ups (one per
    answer it reads) do not preempt a server thread running on its cpu, as
    a client on another host would not."""
    if cpu is None and not batch:
        return None

    def setup():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if batch:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    return setup


def run_wrk(url, scenario, seconds, cpu=None, batch=False):
    """One wrk run; returns (parsed result, raw output).  cpu: pin wrk there;
    batch: run it SCHED_BATCH (client_setup)."""
    pre = client_setup(cpu, batch)
    cmd = wrk_command(url, scenario, seconds)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, text=True, preexec_fn=pre)
    try:
        out, _ = p.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        out += "\nbench/compare: wrk killed after %d s" % (seconds + 30)
    res = parse_wrk(out)
    res["wrk_rc"] = p.returncode
    return res, out
