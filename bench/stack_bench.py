#!/usr/bin/env python3
"""The real Apache stack under load, for one MPM (chosen like the e2e tests,
with the MPM environment variable), or the table of two runs.

    MPM=hybrid bench/stack_bench.py run > hybrid.json
    MPM=event  bench/stack_bench.py run > event.json
    bench/stack_bench.py table hybrid.json event.json

Scenarios, each SECONDS long on one server (4 children x 25 threads, the
configuration of BENCHMARKS.md; KeepAliveTimeout 30, MaxKeepAliveRequests
0, 1 KB static file):

  https-ka   wrk -t1 -c50 over TLS (HTTP/1.1 keep-alive), 1 KB file
  h2c        h2load -t1 -c100 -m10 -n 3000*SECONDS, cleartext HTTP/2 (prior knowledge)
  h2-tls     h2load -t1 -c100 -m10 -n 3000*SECONDS, HTTP/2 over TLS (ALPN h2)
  php-mixed  wrk -c50 on a PHP script that sleeps 100 ms (PHP-FPM through
             mod_proxy_fcgi, 50 static PHP children) while wrk -c10 requests
             the 1 KB file: PHP rps, static rps and static p99

The "load average" row is read as a run starts, so right after the
previous run it mostly shows that run's threads.  Each MPM's runs are
combined into medians (bench/stack-bench alternates
the two MPMs over STACK_BENCH_ROUNDS rounds).  Loopback only; every load step is bounded (wrk -d, h2load -n, plus
`timeout`); the server (the e2e harness's) and php-fpm are started here and
stopped by their pid.  Run through bench/stack-bench, which runs both MPMs
and prints the markdown table."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

SECONDS = int(os.environ.get("STACK_BENCH_SECONDS", "10"))
MPM_PARAMS = {"StartServers": 4, "ServerLimit": 4, "ThreadsPerChild": 25,
              "MaxRequestWorkers": 100, "MinSpareThreads": 25, "MaxSpareThreads": 100}
ONE_KB = b"x" * 1023 + b"\n"


# STACK_BENCH_PIN=split (the default on 2 or more cores, as in
# ../shared/bench): the server on cpu 0; this script, and so the load
# generators and php-fpm it starts, on cpu 1 (bench/stack-bench starts it
# there).  STACK_BENCH_PIN=none leaves scheduling alone.
SERVER_CPU = (0 if os.environ.get("STACK_BENCH_PIN", "split") == "split"
              and (os.cpu_count() or 1) >= 2 else None)


def pin_server(srv, cpu):
    """Every thread of the server's parent and children onto one cpu; the
    children the parent forks later inherit it."""
    for pid in [srv.proc.pid] + srv.children():
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)],
                       stdout=subprocess.DEVNULL, check=True, timeout=10)


def _run(cmd, limit):
    p = subprocess.run(["timeout", str(limit)] + cmd, capture_output=True, text=True,
                       timeout=limit + 10)
    return p.returncode, p.stdout + p.stderr


def _ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, conns, seconds=SECONDS):
    """rps, p99 (ms) and errors (socket errors + non-2xx/3xx) of one wrk run."""
    rc, out = _run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency", url],
                   seconds + 20)
    res = {"rc": rc, "rps": None, "p99_ms": None, "errors": None}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if m:
        res["p99_ms"] = _ms(m.group(1), m.group(2))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(map(int, m.groups()))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    if res["rps"] is not None:
        res["errors"] = errors
    if rc != 0 or res["rps"] is None:
        res["out"] = out[-1500:]
    return res


# h2load runs a request count (about SECONDS of load at ~3 000 req/s), the
# form issue 4 names, not a duration: in timed mode (-D) a client that
# connects after the duration keeps running, and a connection that waited
# for a worker behind 25 busy HTTP/2 connections can be such a client.
# Since handed-over connections may be handed on (8ba6046), 30 of 30 timed
# runs after an h2c load ended (BENCHMARKS.md), but a count bounds the run
# whatever the server does.
H2_REQUESTS = int(os.environ.get("STACK_BENCH_H2_REQUESTS", str(3000 * SECONDS)))


def h2load(url, seconds=SECONDS):
    """rps and failed+errored requests of one h2load run (-c100 -m10)."""
    rc, out = _run(["h2load", "-t1", "-c100", "-m10", "-n", str(H2_REQUESTS), url],
                   seconds * 6 + 30)
    res = {"rc": rc, "rps": None, "errors": None, "proto": None}
    m = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    if m:
        res["errors"] = int(m.group(3)) + int(m.group(4))
        res["done"] = int(m.group(1))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m and res["errors"] is not None:
        res["errors"] += int(m.group(3)) + int(m.group(4))
        # h2load's req/s counts the requests done, 4xx/5xx answers too (the
        # failed ones, on a connection the server closed, were never sent):
        # the rate of 2xx/3xx answers is what compares across servers
        if res["rps"] is not None and res["done"]:
            res["ok_rps"] = res["rps"] * (int(m.group(1)) + int(m.group(2))) / res["done"]
    m = re.search(r"Application protocol: (\S+)", out)
    if m:
        res["proto"] = m.group(1)
    if rc != 0 or res["rps"] is None:
        res["out"] = out[-1500:]
    return res


def run():
    import conftest
    from backends import PHP_FPM, start_php_fpm, stop_php_fpm
    from conftest import ApacheServer, make_tree, tls_vhost, wait_for

    if PHP_FPM is None or not shutil.which("h2load") or not shutil.which("wrk"):
        sys.exit("needs php-fpm, h2load and wrk (scripts/install-deps.sh)")
    php_dir = make_tree("hyb-bench-php-")
    fpm, sock = start_php_fpm(php_dir, "bench", 50, backlog=511)
    srv = None
    results = {"mpm": conftest.MPM_NAME, "seconds": SECONDS,
               "load1_at_start": os.getloadavg()[0]}
    try:
        if not wait_for(lambda: os.path.exists(sock), 15):
            sys.exit("php-fpm did not start")
        srv = ApacheServer(
            modules=("socache_shmcb", "ssl", "http2", "proxy", "proxy_fcgi"),
            nports=2, keepalive_timeout=30, max_keepalive_requests=0, timeout=60,
            mpm=MPM_PARAMS, check_log=False,
            files={"1k.html": ONE_KB,
                   "sleep.php": b"<?php usleep(100000); echo \"slept\\n\";"})
        vhost = tls_vhost(srv, 1, extra="  Protocols h2 http/1.1\n")
        php = ('<FilesMatch "\\.php$">\n'
               '    SetHandler "proxy:unix:%s|fcgi://localhost/"\n'
               '</FilesMatch>\n' % sock)
        srv.extra = lambda s: ("EnableSendfile Off\nProtocols h2c http/1.1\n"
                               + php + vhost(s))
        srv.start()
        if SERVER_CPU is not None:
            pin_server(srv, SERVER_CPU)
        plain = "http://127.0.0.1:%d" % srv.ports[0]
        tls = "https://127.0.0.1:%d" % srv.ports[1]
        # warm-up: a few requests of each kind
        for url in (plain + "/1k.html", tls + "/1k.html", plain + "/sleep.php"):
            subprocess.run(["curl", "-sk", "--max-time", "5", "-o", "/dev/null", url],
                           timeout=15)

        results["https-ka"] = wrk(tls + "/1k.html", 50)
        results["h2c"] = h2load(plain + "/1k.html")
        results["h2-tls"] = h2load(tls + "/1k.html")

        mixed = {}

        def load(key, url, conns):
            mixed[key] = wrk(url, conns)
        threads = [threading.Thread(target=load, args=("php", plain + "/sleep.php", 50)),
                   threading.Thread(target=load, args=("static", plain + "/1k.html", 10))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 60)
        results["php-mixed"] = mixed
    finally:
        if srv is not None:
            srv.stop(check=False)
            results["bad_log_lines"] = srv.bad_log_lines()[:5]
            srv.cleanup_files()
        stop_php_fpm(fpm)
        shutil.rmtree(php_dir, ignore_errors=True)
    json.dump(results, sys.stdout, indent=1)
    print()


def _rate(v):
    return "{:,.0f}".format(v).replace(",", " ")


def _fmt(v, kind):
    if v is None:
        return "n/a"
    if kind == "rps" and isinstance(v, (list, tuple)):
        return "%s [%s..%s]" % (_rate(v[0]), _rate(v[1]), _rate(v[2]))
    if kind == "rps":
        return _rate(v)
    if kind == "ms":
        return "%.1f ms" % v
    if kind == "f1":
        return "%.1f" % v
    return str(v)


def _median(vals):
    vals = sorted(vals)
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2.0


def _combine(runs):
    """One result per MPM out of several runs of it: the median of each
    number, with its range for rates; errors are summed; strings are kept
    when every run agrees.  A missing value in any run makes it None."""
    def merge(vals, key):
        if any(v is None for v in vals):
            return None
        if isinstance(vals[0], dict):
            return {k: merge([v.get(k) for v in vals], k) for k in vals[0]}
        if isinstance(vals[0], str):
            return vals[0] if len(set(vals)) == 1 else "/".join(vals)
        if key in ("errors", "rc"):
            return sum(vals)
        if len(vals) > 1 and key in ("rps", "ok_rps"):
            return (_median(vals), min(vals), max(vals))
        return _median(vals)
    out = {k: merge([r.get(k) for r in runs], k)
           for k in runs[0] if k not in ("out", "bad_log_lines")}
    out["mpm"] = runs[0]["mpm"]
    out["runs"] = len(runs)
    out["bad_log_lines"] = sum((r.get("bad_log_lines") or [] for r in runs), [])
    for key in ("https-ka", "h2c", "h2-tls"):
        tails = [r[key]["out"] for r in runs if r.get(key, {}).get("out")]
        if tails:
            out.setdefault(key, {})["out"] = tails[-1]
    return out


def table(paths):
    """The markdown table of runs of two MPMs (each given once or more,
    in any order): medians over each MPM's runs, and their ratio."""
    by_mpm = {}
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        by_mpm.setdefault(r["mpm"], []).append(r)
    runs = [_combine(rs) for rs in by_mpm.values()]
    rows = [
        ("HTTPS keep-alive, wrk -c50, 1 KB: rps", ("https-ka", "rps"), "rps"),
        ("HTTPS keep-alive: p99", ("https-ka", "p99_ms"), "ms"),
        ("HTTPS keep-alive: errors", ("https-ka", "errors"), "n"),
        ("h2load h2c -c100 -m10: rps", ("h2c", "rps"), "rps"),
        ("h2load h2c: 2xx/3xx answers per s", ("h2c", "ok_rps"), "rps"),
        ("h2load h2c: failed + errored", ("h2c", "errors"), "n"),
        ("h2load TLS (ALPN h2) -c100 -m10: rps", ("h2-tls", "rps"), "rps"),
        ("h2load TLS: 2xx/3xx answers per s", ("h2-tls", "ok_rps"), "rps"),
        ("h2load TLS: failed + errored", ("h2-tls", "errors"), "n"),
        ("h2load TLS: protocol negotiated", ("h2-tls", "proto"), "s"),
        ("PHP-FPM mixed: PHP (100 ms sleep, wrk -c50) rps", ("php-mixed", "php", "rps"), "rps"),
        ("PHP-FPM mixed: PHP errors", ("php-mixed", "php", "errors"), "n"),
        ("PHP-FPM mixed: static 1 KB (wrk -c10) rps", ("php-mixed", "static", "rps"), "rps"),
        ("PHP-FPM mixed: static p99", ("php-mixed", "static", "p99_ms"), "ms"),
        ("PHP-FPM mixed: static errors", ("php-mixed", "static", "errors"), "n"),
        ("host load average (1 min) before the run", ("load1_at_start",), "f1"),
    ]
    print("| scenario (%d s each; medians of %s runs, errors summed) | %s | %s |" % (
        runs[0].get("seconds", SECONDS), "/".join(str(r["runs"]) for r in runs),
        " | ".join(r["mpm"] for r in runs),
        "%s / %s" % (runs[0]["mpm"], runs[1]["mpm"]) if len(runs) == 2 else ""))
    print("|---|%s---|" % ("---|" * len(runs)))
    for label, path, kind in rows:
        vals = []
        for r in runs:
            v = r
            for k in path:
                v = v.get(k) if isinstance(v, dict) else None
            vals.append(v)
        ratio = ""
        mid = [v[0] if isinstance(v, (list, tuple)) else v for v in vals]
        if len(vals) == 2 and kind == "rps" and mid[0] and mid[1]:
            ratio = "%.2fx" % (mid[0] / mid[1])
        print("| %s | %s | %s |" % (label, " | ".join(_fmt(v, kind) for v in vals), ratio))
    for r in runs:
        if r.get("bad_log_lines"):
            print("\n%s error log: %s" % (r["mpm"], r["bad_log_lines"]))
        for key in ("https-ka", "h2c", "h2-tls"):
            if r.get(key, {}).get("out"):
                print("\n%s %s output tail:\n%s" % (r["mpm"], key, r[key]["out"]))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        run()
    elif len(sys.argv) >= 3 and sys.argv[1] == "table":
        table(sys.argv[2:])
    else:
        sys.exit(__doc__)
