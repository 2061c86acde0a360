"""CGI under a threaded MPM goes through mod_cgid's daemon, which the parent
keeps alive as an "other child": killed, it must be restarted."""

import os
import signal

from conftest import http_get, wait_for

SCRIPT = b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\ncgi pid %s\\n' $$\n"


def _threads(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cgid_pids(srv):
    """Children of the server parent with a single thread: the cgid daemon
    (serving children have ThreadsPerChild + 2 threads)."""
    return [p for p in srv.children() if _threads(p) == 1]


def test_cgi_runs_and_cgid_daemon_is_restarted(apache_factory):
    srv = apache_factory(start=False, modules=("cgid",),
                         files={"cgi/hello.cgi": SCRIPT},
                         allow_log=(r"cgid daemon process died",))
    os.chmod(os.path.join(srv.htdocs, "cgi", "hello.cgi"), 0o755)
    srv.extra = ('ScriptSock "%s/run/cgid.sock"\n'
                 '<Directory "%s/cgi">\n    Options +ExecCGI\n'
                 '    SetHandler cgi-script\n</Directory>\n' % (srv.root, srv.htdocs))
    srv.start()
    r = http_get(srv.port, "/cgi/hello.cgi")
    assert r.status == 200 and r.body.startswith(b"cgi pid "), r
    assert wait_for(lambda: len(_cgid_pids(srv)) == 1, 10), "no cgid daemon found"
    daemon = _cgid_pids(srv)[0]
    os.kill(daemon, signal.SIGKILL)
    assert wait_for(lambda: _cgid_pids(srv) and _cgid_pids(srv)[0] != daemon, 15), \
        "cgid daemon not restarted"

    def serves():
        try:
            return http_get(srv.port, "/cgi/hello.cgi", timeout=5).status == 200
        except OSError:
            return False
    assert wait_for(serves, 15), "CGI does not work after the daemon restart"
