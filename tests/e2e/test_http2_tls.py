"""mod_http2 over mod_ssl: h2 is negotiated by ALPN, one TLS connection
carries 100 concurrent streams, and h2load over TLS loses no request."""

import re
import shutil
import subprocess

import pytest

from conftest import server_status_auto, tls_vhost
from h2client import H2Conn

H2LOAD = shutil.which("h2load")

# The fixed process count of the h2c load test (test_http2.py): a child
# retired by idle-thread maintenance in the middle would GOAWAY its clients.
FIXED_2x10 = {"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 10,
              "MaxRequestWorkers": 20, "MinSpareThreads": 5, "MaxSpareThreads": 20}


def _h2_tls_server(apache_factory, **kw):
    """ports[0]: plain HTTP/1.1 (server-status); ports[1]: TLS with h2 first."""
    srv = apache_factory(start=False, modules=("socache_shmcb", "ssl", "http2"),
                         nports=2, **kw)
    srv.extra = tls_vhost(srv, 1, extra="  Protocols h2 http/1.1\n")
    srv.start()
    return srv, srv.ports[1]


def test_curl_negotiates_h2_over_tls(apache_factory):
    srv, tport = _h2_tls_server(apache_factory)
    url = "https://127.0.0.1:%d/small.txt" % tport
    p = subprocess.run(["curl", "-sk", "--max-time", "10", "--http2", "-o", "-",
                        "-w", "\n%{http_version} %{http_code}", url],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stdout.split("\n") == ["small", "", "2 200"], p.stdout
    # without --http2 the same vhost still speaks HTTP/1.1 over TLS
    p = subprocess.run(["curl", "-sk", "--max-time", "10", "--http1.1", "-o", "/dev/null",
                        "-w", "%{http_version} %{http_code}", url],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0 and p.stdout == "1.1 200", (p.returncode, p.stdout, p.stderr)


def test_h2_tls_100_concurrent_streams(apache_factory):
    srv, tport = _h2_tls_server(apache_factory)
    c = H2Conn(tport, timeout=10, tls=True)     # asserts ALPN chose h2
    try:
        c.check_parallel_streams(100, timeout=15)
    finally:
        c.close()
    assert server_status_auto(srv.port)["ServerMPM"]


@pytest.mark.slow
@pytest.mark.skipif(H2LOAD is None, reason="h2load (nghttp2-client) is not installed")
def test_h2load_tls_no_failed_requests(apache_factory):
    """h2load -c 100 -m 10 -n 20000 over TLS (ALPN h2) on 2 children x 10
    threads: every request succeeds, over h2."""
    srv, tport = _h2_tls_server(apache_factory, keepalive_timeout=5,
                                max_keepalive_requests=0, mpm=FIXED_2x10)
    p = subprocess.run(["timeout", "120", H2LOAD, "-c", "100", "-m", "10",
                        "-n", "20000", "https://127.0.0.1:%d/small.txt" % tport],
                       capture_output=True, text=True, timeout=130)
    out = p.stdout + p.stderr
    assert "Application protocol: h2" in out, out[-2000:]
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    assert p.returncode == 0 and m, out[-2000:]
    _total, _started, done, ok, failed, errored = map(int, m.groups())
    assert (done, ok, failed, errored) == (20000, 20000, 0, 0), out[-2000:]
    m = re.search(r"status codes: (\d+) 2xx", out)
    assert m and int(m.group(1)) == 20000, out[-2000:]

