#!/usr/bin/env python3
"""Restart-storm benchmark for one MPM (chosen like the e2e tests, with the
MPM environment variable): 100 keep-alive clients request a small file
while the server is gracefully restarted 10 times in 20 s.  Prints one
markdown table row: requests answered, client errors, worst latency, and
the drain time (last restart until no old-generation child is left).

Loopback only; every loop is bounded; the server is the e2e harness's and
is stopped by its pid.  Run through bench/restart-storm, which runs it for
hybrid and event in one go."""

import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import conftest                                    # noqa: E402
from conftest import ApacheServer, server_status_auto, wait_for   # noqa: E402
from test_restart_storm import Client              # noqa: E402

CLIENTS, RESTARTS, SECONDS = 100, 10, 20.0


def main():
    srv = ApacheServer(keepalive_timeout=30, max_keepalive_requests=0,
                       mpm={"StartServers": 2, "ServerLimit": 16,
                            "ThreadsPerChild": 25, "MaxRequestWorkers": 100,
                            "MinSpareThreads": 25, "MaxSpareThreads": 75},
                       check_log=False)
    srv.start()
    stop = threading.Event()
    clients = [Client(srv.port, stop) for _ in range(CLIENTS)]
    try:
        for c in clients:
            c.start()
        wait_for(lambda: sum(c.ok for c in clients) > CLIENTS, 20)
        t_end = time.monotonic() + SECONDS
        for i in range(RESTARTS):
            gen = server_status_auto(srv.port)["ParentServerMPMGeneration"]
            srv.signal(signal.SIGUSR1)
            wait_for(lambda: server_status_auto(srv.port)
                     ["ParentServerMPMGeneration"] == gen + 1, 10)
            time.sleep(max(0.0, min((t_end - time.monotonic()) / (RESTARTS - i), 2.0)))
        t_last = time.monotonic()
        drained = wait_for(lambda: server_status_auto(srv.port)["Stopping"] == 0, 30)
        drain_s = time.monotonic() - t_last if drained else float("nan")
    finally:
        stop.set()
        for c in clients:
            c.join(20)
        srv.stop(check=False)
        srv.cleanup_files()
    ok = sum(c.ok for c in clients)
    errors = sum(c.errors for c in clients)
    worst = max(c.max_latency for c in clients)
    print("| %s | %d | %d | %d | %.0f ms | %.1f s |" % (
        conftest.MPM_NAME, ok, errors, sum(1 for c in clients if c.errors),
        worst * 1000, drain_s))


if __name__ == "__main__":
    main()
