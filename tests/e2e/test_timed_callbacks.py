"""ap_mpm_register_timed_callback and suspended connections, through
mod_dialup (it paces a response with timed callbacks, suspending the
request between them)."""

import os
import signal
import time

from conftest import HttpConn


DIALUP = """
LoadModule dialup_module /usr/lib/apache2/modules/mod_dialup.so
<Location /paced>
    ModemStandard V.92
</Location>
"""


def _paced_server(apache_factory, body):
    return apache_factory(extra=DIALUP, files={"paced/file.bin": body},
                          keepalive_timeout=10)


def test_timed_callbacks_pace_a_response(apache_factory):
    """About 20 KB at V.92 speed (~7 KB/s) takes a few seconds, arrives
    intact, and holds no worker between pulses."""
    body = os.urandom(20000)
    srv = _paced_server(apache_factory, body)
    c = HttpConn(srv.port, timeout=15)
    try:
        t0 = time.monotonic()
        r = c.request("/paced/file.bin")
        took = time.monotonic() - t0
        assert r.status == 200 and r.body == body
        assert took > 1.5, "not paced (%.2f s)" % took
    finally:
        c.close()


def test_connection_usable_after_suspended_request(apache_factory):
    """After a paced (suspended) response, the next request on the same
    connection is answered.  Under event it never is (2.4 has no resume for
    SUSPENDED connections)."""
    body = os.urandom(8000)
    srv = _paced_server(apache_factory, body)
    c = HttpConn(srv.port, timeout=10)
    try:
        r = c.request("/paced/file.bin")
        assert r.status == 200 and r.body == body
        r = c.request("/small.txt")
        assert r.status == 200 and r.body == b"small\n"
        c.close()
        # graceful-stop must not hang on the once-suspended connection
        srv.signal(signal.SIGWINCH)
        assert srv.wait_exit(10), "graceful-stop hung"
    finally:
        c.close()
