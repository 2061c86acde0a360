"""ap_mpm_register_timed_callback and suspended connections, through
mod_dialup (it paces a response with timed callbacks, suspending the
request between them)."""

import os
import re
import signal
import threading
import time

import pytest

from conftest import MPM, HttpConn, http_get, wait_for


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


# r:scoreboard_process(i).suspended is process_score.suspended, which
# mod_status shows nowhere (2.4.x prints no ?auto key for it).
SCOREBOARD_LUA = b"""
function handle(r)
    r.content_type = "text/plain"
    local n = 0
    for i = 0, %d do
        local p = r:scoreboard_process(i)
        if p then
            n = n + p.suspended
        end
    end
    r:puts("suspended=" .. n .. "\\n")
    return apache2.OK
end
"""


@pytest.mark.xfail(MPM == "event", strict=False,
                   reason="observed here: under event the mod_dialup-paced responses do not "
                          "complete (as in test_timed_callbacks_pace_a_response)")
def test_scoreboard_counts_suspended_connections(apache_factory):
    """While mod_dialup holds 3 paced responses (suspended between its
    one-second pulses), process_score.suspended adds up to 3 (read with
    mod_lua, which shows the field); 0 once they are done.  Before the
    hybrid MPM counted them it always published 0."""
    n, server_limit = 3, 4
    body = os.urandom(30000)                 # about 4 s at V.92
    srv = apache_factory(modules=("lua",), extra=DIALUP + "AddHandler lua-script .lua\n",
                         files={"paced/file.bin": body,
                                "sb.lua": SCOREBOARD_LUA % (server_limit - 1)},
                         keepalive_timeout=10)
    assert srv.mpm_params["ServerLimit"] == server_limit

    def suspended():
        r = http_get(srv.port, "/sb.lua")
        assert r.status == 200, r
        return int(re.search(rb"suspended=(\d+)", r.body).group(1))

    assert suspended() == 0
    results = [None] * n

    def fetch(i):
        try:
            with HttpConn(srv.port, timeout=20) as c:
                r = c.request("/paced/file.bin", close=True)
                results[i] = r.status == 200 and r.body == body
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = repr(e)
    threads = [threading.Thread(target=fetch, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    seen = wait_for(lambda: suspended() == n, 3, interval=0.1)
    for t in threads:
        t.join(25)
    assert results == [True] * n, results
    assert seen, "never %d suspended while paced" % n
    assert wait_for(lambda: suspended() == 0, 3, interval=0.1), suspended()
