"""bench/compare: the same scenarios against hybrid, other MPMs and nginx.

Owns the run plan: for each round, each scenario, each variant (the order
of the variants turns every round, so drift on the host falls on all of
them alike), a fresh server is started, warmed up, measured during one wrk
run and stopped.  Then the medians, the table, the chart and the JSON.
"""

import argparse
import datetime
import os
import platform
import resource
import shutil
import sys
import time

from . import report
from .loadgen import DEFAULT_SCENARIOS, SCENARIOS, run_wrk
from .servers import Server, Variant, mpm_variant

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

USAGE_EXAMPLES = """examples:
  bench/compare                              hybrid and event, 3 x 10 s per scenario
  bench/compare --mpm event --mpm worker     hybrid, event and worker
  bench/compare --mpm event --nginx off --scenarios ka50 --seconds 5 --repeat 1
  bench/compare --mpm old=/path/to/mod_mpm_hybrid.so   another hybrid build
"""


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/compare", epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the same wrk scenarios on loopback against the hybrid "
        "MPM, other Apache MPMs and nginx (if installed), each server started "
        "and stopped here with one generated configuration; print a table of "
        "medians and ratios, write a chart (SVG) and the raw results (JSON).")
    p.add_argument("--mpm", action="append", default=None, metavar="NAME[=SO]",
                   help="an MPM to compare with hybrid: a stock one from "
                   "/usr/lib/apache2/modules (event, worker, prefork) or NAME=PATH "
                   "(repeatable; default: event)")
    p.add_argument("--hybrid-so", default=os.environ.get("HYB_SO") or os.path.join(
        REPO, "build", "mod_mpm_hybrid.so"), help="the hybrid module (default: "
        "$HYB_SO or build/mod_mpm_hybrid.so)")
    p.add_argument("--no-hybrid", action="store_true", help="leave hybrid out")
    p.add_argument("--nginx", choices=["auto", "on", "off"], default="auto",
                   help="compare with nginx too (auto: when installed)")
    p.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                   help="comma-separated, from: %s" % ", ".join(SCENARIOS))
    p.add_argument("--seconds", type=int, default=10, help="length of each run (10)")
    p.add_argument("--repeat", type=int, default=3, help="runs per scenario and "
                   "server; the table shows medians (3)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of the same load "
                   "before each measured run, not counted (1; 0: none)")
    p.add_argument("--pin", choices=["split", "none"], default="split",
                   help="split: server on cpu 0, wrk on cpu 1 (needs 2 cpus); "
                   "none: no pinning")
    p.add_argument("--client-batch", action="store_true",
                   help="run wrk SCHED_BATCH: its wake-ups then do not preempt the "
                   "server's threads, as a client on another host would not")
    p.add_argument("--children", type=int, default=4, help="server processes (4)")
    p.add_argument("--threads", type=int, default=25, help="threads per process (25)")
    p.add_argument("--out", default=os.path.join(REPO, "build", "bench-compare"),
                   help="directory for table.md, chart.svg, results.json "
                   "(default build/bench-compare)")
    p.add_argument("--keep", action="store_true", help="keep each server's scratch "
                   "directory (configuration, error log)")
    a = p.parse_args(argv)
    a.scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    bad = [s for s in a.scenarios if s not in SCENARIOS]
    if bad or not a.scenarios:
        p.error("unknown scenario(s) %s; choose from %s" % (bad, ", ".join(SCENARIOS)))
    if a.seconds < 1 or a.repeat < 1 or a.warmup < 0 or a.children < 1 or a.threads < 1:
        p.error("--seconds, --repeat, --children, --threads must be >= 1, --warmup >= 0")
    return a, p


def make_variants(a):
    specs = ([] if a.no_hybrid else ["hybrid"]) + (a.mpm if a.mpm else ["event"])
    variants, names = [], set()
    for spec in specs:
        v = mpm_variant(spec, os.path.abspath(a.hybrid_so))
        if v.name in names:
            raise ValueError("--mpm %s given twice" % v.name)
        names.add(v.name)
        variants.append(v)
    if a.nginx == "on" or (a.nginx == "auto" and shutil.which("nginx")):
        if not shutil.which("nginx"):
            raise ValueError("--nginx on, but no nginx on PATH")
        variants.append(Variant("nginx", "nginx"))
    if len(variants) < 2:
        raise ValueError("nothing to compare: give at least two servers")
    return variants


def cpus(pin):
    """(server cpu, load generator cpu), or (None, None) when not pinned."""
    allowed = sorted(os.sched_getaffinity(0))
    if pin == "split" and len(allowed) >= 2:
        return allowed[0], allowed[1]
    if pin == "split":
        print("bench/compare: only one cpu, not pinning", file=sys.stderr)
    return None, None


def measure(variant, scenario, a, srv_cpu, gen_cpu):
    """One fresh server, warm-up, one measured wrk run; the run's record."""
    rec = {"variant": variant.name, "scenario": scenario}
    with Server(variant, {"children": a.children, "threads": a.threads},
                srv_cpu, a.keep) as srv:
        if a.warmup:
            run_wrk(srv.url(), scenario, a.warmup, gen_cpu, a.client_batch)
        cpu0, cs0 = srv.counters()
        res, out = run_wrk(srv.url(), scenario, a.seconds, gen_cpu, a.client_batch)
        cpu1, cs1 = srv.counters()
        rec["server_processes"] = len(srv.pids())
    rec.update(res)
    rec["server_cpu_s"] = round(cpu1 - cpu0, 3)
    rec["context_switches"] = cs1 - cs0
    n = res["requests"]
    rec["req_per_srv_cpu_s"] = (n / rec["server_cpu_s"]) if n and rec["server_cpu_s"] > 0 else None
    rec["cs_per_req"] = (rec["context_switches"] / n) if n else None
    if res["rps"] is None:
        rec["wrk_output"] = out[-2000:]
    return rec


def plan(variants, scenarios, repeat):
    """(round, scenario, variant) in run order; the variants turn each round."""
    for r in range(repeat):
        turn = r % len(variants)
        order = variants[turn:] + variants[:turn]
        for s in scenarios:
            for v in order:
                yield r, s, v


def meta_of(a, variants, srv_cpu, gen_cpu):
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), "kernel": platform.release(),
            "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0],
            "pin": a.pin, "server_cpu": srv_cpu, "wrk_cpu": gen_cpu,
            "client_batch": a.client_batch,
            "seconds": a.seconds, "repeat": a.repeat, "warmup": a.warmup,
            "children": a.children, "threads": a.threads,
            "scenarios": a.scenarios, "variants": [v.describe() for v in variants]}


def subtitle(meta):
    pin = ("server on cpu %s, wrk on cpu %s" % (meta["server_cpu"], meta["wrk_cpu"])
           if meta["server_cpu"] is not None else "not pinned")
    if meta.get("client_batch"):
        pin += ", wrk SCHED_BATCH"
    return ("%d x %d s per scenario and server (medians), %d x %d threads, 1 KB file, "
            "access log off, wrk -t1 --timeout 5s on loopback, %s; %s, Linux %s, load %.1f at start"
            % (meta["repeat"], meta["seconds"], meta["children"], meta["threads"], pin,
               meta["date"][:16].replace("T", " "), meta["kernel"], meta["loadavg_start"]))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv):
    a, parser = parse_args(argv)
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")
    try:
        variants = make_variants(a)
    except ValueError as e:
        parser.error(str(e))
    raise_nofile()
    srv_cpu, gen_cpu = cpus(a.pin)
    meta = meta_of(a, variants, srv_cpu, gen_cpu)
    runs, failed = [], 0
    total = a.repeat * len(a.scenarios) * len(variants)
    for i, (r, s, v) in enumerate(plan(variants, a.scenarios, a.repeat), 1):
        t0 = time.monotonic()
        try:
            rec = measure(v, s, a, srv_cpu, gen_cpu)
        except RuntimeError as e:
            rec = {"variant": v.name, "scenario": s, "error": str(e)}
        rec["round"] = r + 1
        runs.append(rec)
        ok = rec.get("rps") is not None
        failed += not ok
        print("bench/compare: [%d/%d] %-8s %-8s %s (%.0f s)" % (
            i, total, v.name, s, ("%.0f rps" % rec["rps"]) if ok else
            "FAILED: " + rec.get("error", "no rps from wrk").splitlines()[0],
            time.monotonic() - t0), file=sys.stderr, flush=True)
    meta["loadavg_end"] = os.getloadavg()[0]
    names = [v.name for v in variants]
    summary = report.summarize(runs, names, a.scenarios)
    text = "%s\n\n%s" % (subtitle(meta), report.table(summary, names, a.scenarios))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "chart.svg"), "w") as f:
        f.write(report.svg_chart(summary, names, a.scenarios, subtitle(meta)))
    report.write_json(os.path.join(a.out, "results.json"), meta, runs, summary,
                      names, a.scenarios)
    print(text)
    print("bench/compare: wrote %s/{table.md,chart.svg,results.json}" % a.out)
    if failed:
        print("bench/compare: %d of %d runs failed (see results.json)" % (failed, total),
              file=sys.stderr)
    return 1 if failed else 0
