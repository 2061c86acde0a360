"""A child that cannot start stops the whole server.

httpd's children exit with APEXIT_CHILDFATAL when they cannot set
themselves up (e.g. drop privileges to User/Group).  Forking again would
only fail again, so the parent must stop the server by itself, with a clear
message, instead of looping on fork.  The failure is simulated by the test
helper module (helpers/mod_hyb_test.c, `HybTestChildFatal On`), whose
child_init exits with APEXIT_CHILDFATAL and logs one line per child, so the
number of forks can be counted."""

import re
import signal
import time

import pytest

from conftest import MPM, http_get, server_status_auto, wait_for, write_file

FORK_LINE = re.compile(r"hyb_test: child (\d+) exits with APEXIT_CHILDFATAL")
# Expected [alert]/[emerg] lines: ap_process_child_status() logs "returned a
# Fatal error" for every MPM, hybrid adds HYB0210, and main() logs "MPM run
# failed, exiting" when the MPM returns an error (hybrid does, event not).
FATAL_LOGS = [r"returned a Fatal error", r"HYB0210", r"MPM run failed, exiting"]
STOP_BOUND = 10.0


def _conf(so, on):
    return "LoadModule hyb_test_module %s\nHybTestChildFatal %s\n" % (so, "On" if on else "Off")


def _forks(srv):
    return [int(m.group(1)) for m in FORK_LINE.finditer(srv.log_text())]


def _assert_clear_message(srv):
    log = srv.log_text()
    assert re.search(r"Child \d+ returned a Fatal error\.\.\. Apache is exiting!", log), log
    if MPM == "hybrid":
        lines = [l for l in log.splitlines() if "HYB0210" in l]
        assert len(lines) == 1, "expected one HYB0210 line:\n" + log
        assert "could not start" in lines[0] and "APEXIT_CHILDFATAL" in lines[0], lines[0]


def _assert_exit_status(srv):
    # Hybrid exits with 1 ("MPM run failed"); stock event exits with 0.
    if MPM == "hybrid":
        assert srv.proc.returncode == 1, "exit status %s after a fatal child error" % (
            srv.proc.returncode)
    assert not srv.our_processes() or wait_for(lambda: not srv.our_processes(), 5), \
        "processes left: %s" % srv.our_processes()


def test_fatal_child_at_startup_stops_the_server(apache_factory, hyb_test_module):
    srv = apache_factory(start=False, extra=_conf(hyb_test_module, True),
                         mpm={"StartServers": 2}, allow_log=FATAL_LOGS)
    srv.start_timeout = STOP_BOUND
    t0 = time.monotonic()
    with pytest.raises(AssertionError) as err:
        srv.start()
    took = time.monotonic() - t0
    assert "exited" in str(err.value), "server still running %.0f s after its children " \
        "failed:\n%s" % (STOP_BOUND, err.value)
    assert took < STOP_BOUND
    forks = _forks(srv)
    assert 1 <= len(forks) <= 4, "%d children forked (fork loop?): %s" % (len(forks), forks)
    _assert_exit_status(srv)
    _assert_clear_message(srv)


@pytest.mark.slow
def test_fatal_child_after_graceful_restart_stops_the_server(apache_factory,
                                                             hyb_test_module):
    """The configuration of a graceful restart makes every new child fail:
    the server stops instead of forking replacements forever."""
    srv = apache_factory(extra=_conf(hyb_test_module, False), mpm={"StartServers": 2},
                         allow_log=FATAL_LOGS)
    assert http_get(srv.port, "/small.txt").status == 200
    gen = server_status_auto(srv.port)["ParentServerMPMGeneration"]
    with open(srv.conf) as f:
        text = f.read()
    write_file(srv.conf, text.replace("HybTestChildFatal Off", "HybTestChildFatal On"))
    t0 = time.monotonic()
    srv.signal(signal.SIGUSR1)
    assert srv.wait_exit(STOP_BOUND), \
        "server still running %.0f s after its new children failed (generation %d)" % (
            STOP_BOUND, gen)
    took = time.monotonic() - t0
    forks = _forks(srv)
    assert 1 <= len(forks) <= 4, "%d children forked (fork loop?): %s" % (len(forks), forks)
    _assert_exit_status(srv)
    _assert_clear_message(srv)
    print("stopped %.2f s after the restart, %d failed children" % (took, len(forks)))
