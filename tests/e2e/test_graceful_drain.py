"""Graceful restart without client errors: a keep-alive connection parked
on an old-generation child is kept for HybridDrainTimeout, so a request
sent just after the restart is answered (with Connection: close) instead of
meeting a closed socket; idle ones are closed when the window ends, and the
parent logs when the old generation has drained."""

import signal
import time

import pytest

from conftest import HttpConn, MPM, server_status_auto, wait_for


def _gen(srv):
    return server_status_auto(srv.port)["ParentServerMPMGeneration"]


def test_request_just_after_graceful_restart_is_served(apache_factory):
    drain = "HybridDrainTimeout 2\n" if MPM == "hybrid" else ""
    srv = apache_factory(extra=drain, keepalive_timeout=30)
    c = HttpConn(srv.port, timeout=10)
    idle = HttpConn(srv.port, timeout=10)
    try:
        assert c.request("/small.txt").status == 200
        assert idle.request("/small.txt").status == 200
        gen = _gen(srv)
        srv.signal(signal.SIGUSR1)
        assert wait_for(lambda: _gen(srv) == gen + 1, 10)
        time.sleep(0.3)         # the request is "already on its way"
        r = c.request("/small.txt")
        assert r.status == 200 and r.body == b"small\n"
        assert r.header("connection", "").lower() == "close"
        # the idle one is closed cleanly once the window is over
        waited = idle.wait_eof(6)
        assert waited is not None, "idle connection not closed after the window"
        assert wait_for(lambda: "fully drained" in srv.log_text(), 10), \
            "no drain line in the log"
    finally:
        c.close()
        idle.close()


def test_drain_timeout_rejects_bad_values(apache_factory, tmp_path):
    if MPM != "hybrid":
        pytest.skip("HybridDrainTimeout is hybrid's directive")
    srv = apache_factory(start=False, extra="HybridDrainTimeout 99\n")
    srv.ports = [1]
    srv.write_conf()
    from conftest import apache_t
    rc, out = apache_t(srv.conf)
    assert rc != 0 and "HybridDrainTimeout" in out and "0 to 60" in out, out
