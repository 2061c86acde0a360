"""HybridCPUAffinity: each child's threads on one CPU, children spread by slot.

What an admin sees: with the directive On every thread of a child (listener,
workers, main thread) may run on exactly one CPU, the children of consecutive
slots get different CPUs, the start-up log says which CPUs are shared, a
graceful restart's new children are pinned too, and requests are served.
Off (the default) leaves every child on every CPU httpd may use, as event does.
"""

import os
import re
import signal

import pytest

from conftest import (MPM, TWO_SMALL_CHILDREN, apache_t, http_get, minimal_conf,
                      thread_ids, wait_for)

pytestmark = pytest.mark.skipif(MPM != "hybrid", reason="hybrid's own directive")

ALLOWED = sorted(os.sched_getaffinity(0))


def _cpus_of_thread(pid, tid):
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return _parse_list(line.split(":", 1)[1].strip())
    raise AssertionError("no Cpus_allowed_list for %d/%d" % (pid, tid))


def _parse_list(text):
    out = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out |= set(range(int(a), int(b) + 1))
        elif part:
            out.add(int(part))
    return out


def _child_cpus(pid):
    """The CPU set shared by every thread of child pid (asserted equal)."""
    tids = thread_ids(pid)
    sets = {frozenset(_cpus_of_thread(pid, t)) for t in tids}
    assert len(sets) == 1, "threads of child %d differ: %s" % (pid, sets)
    assert len(tids) >= 3, "child %d has only %d threads" % (pid, len(tids))
    return set(next(iter(sets)))


def _threads_started(pids):
    """Wait until every child in pids has its listener and workers (threads
    start asynchronously after fork)."""
    assert wait_for(lambda: all(len(thread_ids(p)) >= 3
                                for p in pids), 10), pids


def _started_children(srv, n):
    assert wait_for(lambda: len(srv.children()) == n, 10), srv.children()
    _threads_started(srv.children())
    return srv.children()


def test_on_pins_each_child_to_one_cpu_and_spreads_them(apache_factory):
    srv = apache_factory(mpm=TWO_SMALL_CHILDREN, extra="HybridCPUAffinity On")
    kids = _started_children(srv, 2)
    sets = [_child_cpus(p) for p in kids]
    for s in sets:
        assert len(s) == 1 and s <= set(ALLOWED), sets
    if len(ALLOWED) >= 2:
        assert sets[0] != sets[1], "two children on one CPU: %s" % sets
    for _ in range(20):
        assert http_get(srv.port, "/small.txt").status == 200
    with open(srv.error_log) as f:
        log = f.read()
    m = re.search(r"HYB0112: HybridCPUAffinity On: each child runs on one of "
                  r"CPUs (\S+) \((\d+)\)", log)
    assert m, log[-2000:]
    assert _parse_list(m.group(1)) == set(ALLOWED)
    assert int(m.group(2)) == len(ALLOWED)


def test_graceful_restart_pins_the_new_children(apache_factory):
    srv = apache_factory(mpm=TWO_SMALL_CHILDREN, extra="HybridCPUAffinity On")
    old = set(_started_children(srv, 2))
    srv.signal(signal.SIGUSR1)
    assert wait_for(lambda: len(set(srv.children()) - old) == 2, 15), srv.children()
    new = sorted(set(srv.children()) - old)
    _threads_started(new)
    for p in new:
        assert len(_child_cpus(p)) == 1
    assert http_get(srv.port, "/small.txt").status == 200


def test_off_by_default_children_use_every_cpu(apache_factory):
    srv = apache_factory(mpm=TWO_SMALL_CHILDREN)
    for p in _started_children(srv, 2):
        assert _child_cpus(p) == set(ALLOWED)
    with open(srv.error_log) as f:
        assert "HYB0112" not in f.read()


@pytest.mark.skipif(len(ALLOWED) < 2, reason="needs 2 CPUs to leave one without a child")
def test_fewer_children_than_cpus_is_warned(apache_factory):
    srv = apache_factory(mpm={"StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": 4,
                              "MaxRequestWorkers": 4, "MinSpareThreads": 1,
                              "MaxSpareThreads": 4},
                         extra="HybridCPUAffinity On")
    assert http_get(srv.port, "/small.txt").status == 200
    with open(srv.error_log) as f:
        log = f.read()
    assert re.search(r"HYB0114: HybridCPUAffinity On with ServerLimit 1: %d of the %d "
                     r"CPUs get no child" % (len(ALLOWED) - 1, len(ALLOWED)), log), log[-2000:]


def test_bad_value_names_the_directive(tmp_tree):
    rc, out = apache_t(minimal_conf(tmp_tree, extra="HybridCPUAffinity sometimes"))
    assert rc != 0
    assert "HybridCPUAffinity" in out and "On or Off" in out, out
