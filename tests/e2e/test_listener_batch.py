"""HybridListenerBatch On: each child's listener thread runs as SCHED_BATCH.

What an admin sees: by default (Off) every thread keeps the normal
policy, as under event.  With On, exactly one thread per child, the one
waiting in epoll_wait (the listener), has the SCHED_BATCH policy
(`ps -L -o cls` shows B); the workers, the child's main thread and the
parent keep the normal policy, and requests are served.  A graceful
restart applies a changed value to the new children.  An httpd started
with another policy than the normal one (as systemd's
CPUSchedulingPolicy= does) keeps it in every thread, even with On.  A
value other than On or Off is a configtest error naming the directive.
"""

import os
import signal

import pytest

from conftest import (MPM, TWO_SMALL_CHILDREN, apache_t, http_get,
                      minimal_conf, thread_ids, thread_syscall, wait_for)

pytestmark = pytest.mark.skipif(MPM != "hybrid", reason="hybrid's own directive")

SCHED_OTHER, SCHED_BATCH, SCHED_IDLE = 0, 3, 5
EPOLL_SYSCALLS = {"232", "281"}     # epoll_wait, epoll_pwait (x86_64)


def _policy(pid, tid):
    """The scheduling policy of a thread: field 41 of its stat line."""
    with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
        after_comm = f.read().rsplit(")", 1)[1].split()
    return int(after_comm[38])


def _in_epoll(pid, tid):
    return thread_syscall(pid, tid) in EPOLL_SYSCALLS


def _children_ready(srv, n, exclude=()):
    """The n children not in exclude, once each has its listener waiting in
    epoll_wait and its workers (threads start after the fork)."""
    def ready():
        kids = [p for p in srv.children() if p not in exclude]
        try:
            return len(kids) == n and all(
                len(thread_ids(p)) >= 3 and any(_in_epoll(p, t) for t in thread_ids(p))
                for p in kids)
        except OSError:
            return False
    assert wait_for(ready, 15), srv.children()
    return [p for p in srv.children() if p not in exclude]


def _listener_tid(pid):
    """The thread of child pid that waits in epoll_wait (polled: an idle
    listener leaves it only briefly, for its timers)."""
    found = []

    def one():
        found[:] = [t for t in thread_ids(pid) if _in_epoll(pid, t)]
        return len(found) == 1
    assert wait_for(one, 5), "child %d: threads in epoll_wait: %s" % (pid, found)
    return found[0]


def _assert_batch_listener_only(pid):
    listener = _listener_tid(pid)
    rows = [(t, _policy(pid, t)) for t in thread_ids(pid)]
    assert listener != pid, "child %d: its main thread waits in epoll_wait" % pid
    assert dict(rows)[listener] == SCHED_BATCH, "child %d: %s" % (pid, rows)
    others = [r for r in rows if r[0] != listener]
    assert all(p == SCHED_OTHER for _, p in others), "child %d: %s" % (pid, rows)


def _assert_all_normal(pid):
    rows = [(t, _policy(pid, t)) for t in thread_ids(pid)]
    assert all(p == SCHED_OTHER for _, p in rows), "process %d: %s" % (pid, rows)


def test_on_makes_only_each_listener_sched_batch(apache_factory):
    srv = apache_factory(mpm=TWO_SMALL_CHILDREN, extra="HybridListenerBatch On")
    for pid in _children_ready(srv, 2):
        _assert_batch_listener_only(pid)
    _assert_all_normal(srv.pid)
    for _ in range(20):
        assert http_get(srv.port, "/small.txt").status == 200
    assert "HYB0310" not in srv.log_text()


def test_default_keeps_every_thread_normal(apache_factory):
    srv = apache_factory(mpm=TWO_SMALL_CHILDREN)
    for pid in _children_ready(srv, 2):
        _assert_all_normal(pid)
    _assert_all_normal(srv.pid)
    assert http_get(srv.port, "/small.txt").status == 200


def test_graceful_restart_applies_the_new_value(apache_factory):
    srv = apache_factory(mpm=TWO_SMALL_CHILDREN, extra="HybridListenerBatch Off")
    old = set(_children_ready(srv, 2))
    srv.extra = "HybridListenerBatch On"
    srv.write_conf()
    srv.signal(signal.SIGUSR1)
    for pid in _children_ready(srv, 2, exclude=old):
        _assert_batch_listener_only(pid)
    assert http_get(srv.port, "/small.txt").status == 200


@pytest.mark.skipif(os.geteuid() != 0, reason="going back to the normal policy needs root")
def test_a_policy_httpd_was_started_with_is_kept(apache_factory):
    srv = apache_factory(mpm=TWO_SMALL_CHILDREN, extra="HybridListenerBatch On", start=False)
    mine = os.sched_getscheduler(0)
    os.sched_setscheduler(0, SCHED_IDLE, os.sched_param(0))
    try:
        srv.start()             # httpd inherits SCHED_IDLE, as from systemd
    finally:
        os.sched_setscheduler(0, mine, os.sched_param(0))
    for pid in _children_ready(srv, 2):
        rows = [(t, _policy(pid, t)) for t in thread_ids(pid)]
        assert all(p == SCHED_IDLE for _, p in rows), "child %d: %s" % (pid, rows)
    assert http_get(srv.port, "/small.txt").status == 200
    assert "HYB0310" not in srv.log_text()     # not even tried


def test_bad_value_names_the_directive(tmp_tree):
    rc, out = apache_t(minimal_conf(tmp_tree, extra="HybridListenerBatch sometimes"))
    assert rc != 0
    assert "HybridListenerBatch" in out and "On or Off" in out, out
