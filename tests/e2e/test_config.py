"""Command-line behaviour: -V, -M, directive parsing and clamping (apache2 -t).

Clamp messages are matched on directive names and numbers, case-insensitively,
never on exact wording or AH numbers, so event and hybrid both pass."""

import re

import pytest

from conftest import (MPM_MODULE, MPM_NAME, MODDIR, apache_t, apache_V,
                      minimal_conf)


def _lines_mentioning(output, *words):
    """Lines of output that contain every word (case-insensitive; numbers
    must match as whole numbers)."""
    hits = []
    for line in output.splitlines():
        ok = True
        for w in words:
            w = str(w)
            if w.isdigit():
                if not re.search(r"(?<![\d.])%s(?![\d])" % w, line):
                    ok = False
            elif w.lower() not in line.lower():
                ok = False
        if ok:
            hits.append(line)
    return hits


def test_V_reports_mpm_profile(tmp_tree):
    conf = minimal_conf(tmp_tree)
    rc, out = apache_V(conf)
    assert rc == 0, out
    assert re.search(r"^Server MPM:\s+%s\s*$" % MPM_NAME, out, re.M), out
    assert re.search(r"^\s*threaded:\s+yes \(fixed thread count\)\s*$", out, re.M), out
    assert re.search(r"^\s*forked:\s+yes \(variable process count\)\s*$", out, re.M), out


def test_M_lists_mpm_module(tmp_tree):
    conf = minimal_conf(tmp_tree)
    rc, out = apache_t(conf, ["-M"])
    assert rc == 0, out
    assert re.search(r"^\s*%s \(shared\)\s*$" % MPM_MODULE, out, re.M), out


def test_default_debian_values_give_no_warning(tmp_tree):
    block = "\n".join([
        "StartServers 2", "MinSpareThreads 25", "MaxSpareThreads 75",
        "ThreadLimit 64", "ThreadsPerChild 25", "MaxRequestWorkers 150",
        "MaxConnectionsPerChild 0", "AsyncRequestWorkerFactor 2"])
    rc, out = apache_t(minimal_conf(tmp_tree, block))
    assert rc == 0, out
    assert out.strip() == "Syntax OK", "unexpected output for a consistent config:\n" + out


# (config block, directive that must be named, numbers that must appear on that line)
CLAMP_CASES = [
    ("ThreadLimit 64\nThreadsPerChild 80", "ThreadsPerChild", (80, 64)),
    ("ThreadsPerChild 25\nMaxRequestWorkers 17", "MaxRequestWorkers", (17, 25)),
    ("ThreadsPerChild 25\nMaxRequestWorkers 30", "MaxRequestWorkers", (30, 25)),
    ("ServerLimit 2\nThreadsPerChild 25\nMaxRequestWorkers 1000", "MaxRequestWorkers", (1000, 50)),
    ("ServerLimit 30000", "ServerLimit", (30000, 20000)),
    ("ServerLimit 0", "ServerLimit", (0, 1)),
    ("ThreadLimit 200000", "ThreadLimit", (200000, 100000)),
    ("ThreadLimit 0", "ThreadLimit", (0, 1)),
    ("ThreadsPerChild 0", "ThreadsPerChild", (0, 1)),
    ("ThreadsPerChild -1", "ThreadsPerChild", (-1, 1)),
    ("MinSpareThreads 0", "MinSpareThreads", (0, 1)),
    ("StartServers 0", "StartServers", (0, 1)),
]


@pytest.mark.parametrize("block,directive,numbers", CLAMP_CASES,
                         ids=[c[0].replace("\n", ",").replace(" ", "=") for c in CLAMP_CASES])
def test_clamp_warning_names_directive_and_value(tmp_tree, block, directive, numbers):
    rc, out = apache_t(minimal_conf(tmp_tree, block))
    assert rc == 0, "clamping must warn, not fail:\n" + out
    assert "Syntax OK" in out, out
    hits = _lines_mentioning(out, directive, *numbers)
    assert hits, ("expected a warning naming %s with values %s, got:\n%s"
                  % (directive, numbers, out))


def _directive_line(conf, directive):
    with open(conf) as f:
        for i, line in enumerate(f, 1):
            if line.strip().startswith(directive):
                return i
    raise AssertionError("%s not in %s" % (directive, conf))


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_async_request_worker_factor_invalid_is_syntax_error(tmp_tree, value):
    conf = minimal_conf(tmp_tree, "AsyncRequestWorkerFactor %s" % value)
    rc, out = apache_t(conf)
    assert rc != 0, "AsyncRequestWorkerFactor %s must be rejected:\n%s" % (value, out)
    assert "Syntax OK" not in out
    # The error must point at the directive: by name, or by the line number
    # of the directive (stock event says only "error parsing value" for abc).
    line = _directive_line(conf, "AsyncRequestWorkerFactor")
    assert ("asyncrequestworkerfactor" in out.lower()
            or re.search(r"line %d\b" % line, out)), out


@pytest.mark.parametrize("value", ["1", "0.5", "2.5"])
def test_async_request_worker_factor_valid(tmp_tree, value):
    rc, out = apache_t(minimal_conf(tmp_tree, "AsyncRequestWorkerFactor %s" % value))
    assert rc == 0 and "Syntax OK" in out, out


def test_listen_family_and_graceful_shutdown_timeout_accepted(tmp_tree):
    block = "\n".join(["ListenBacklog 100", "ListenCoresBucketsRatio 2",
                       "ListenTCPDeferAccept 10", "GracefulShutdownTimeout 5",
                       "SendBufferSize 65536", "ReceiveBufferSize 65536",
                       "MaxConnectionsPerChild 0", "MaxRequestsPerChild 0",
                       "MaxMemFree 2048", "ThreadStackSize 1048576"])
    rc, out = apache_t(minimal_conf(tmp_tree, block))
    assert rc == 0, out
    assert "Syntax OK" in out, out


def test_maxclients_alias_accepted(tmp_tree):
    rc, out = apache_t(minimal_conf(tmp_tree, "ThreadsPerChild 25\nMaxClients 150"))
    assert rc == 0 and "Syntax OK" in out, out


def test_two_mpms_rejected(tmp_tree):
    other = ("mpm_event_module", "mod_mpm_event.so") if MPM_NAME != "event" \
        else ("mpm_prefork_module", "mod_mpm_prefork.so")
    extra = "LoadModule %s %s/%s" % (other[0], MODDIR, other[1])
    rc, out = apache_t(minimal_conf(tmp_tree, extra=extra))
    assert rc != 0, out
    assert "more than one mpm loaded" in out.lower(), out


def test_no_mpm_rejected(tmp_tree):
    rc, out = apache_t(minimal_conf(tmp_tree, mpm_loadmodule=""))
    assert rc != 0, out
    assert "no mpm loaded" in out.lower(), out


def test_mpm_accept_mutex_rejected(tmp_tree):
    conf = minimal_conf(tmp_tree, "Mutex fcntl mpm-accept")
    rc, out = apache_t(conf)
    assert rc != 0, "Mutex mpm-accept should be invalid (event has no accept mutex):\n" + out
    assert "mpm-accept" in out, out


def test_no_mpm_accept_mutex_in_S(tmp_tree):
    rc, out = apache_t(minimal_conf(tmp_tree), ["-S"])
    assert rc == 0, out
    assert "mpm-accept" not in out, out
    assert re.search(r"^Mutex default:", out, re.M), out


def test_unknown_directive_still_rejected(tmp_tree):
    """Guard against a config parser that accepts anything."""
    rc, out = apache_t(minimal_conf(tmp_tree, "ThreadsPerChildTypo 5"))
    assert rc != 0, out
