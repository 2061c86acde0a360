"""mod_ssl under the MPM: keep-alive connections over TLS park like plain
ones, and a keep-alive timeout ends with a TLS close_notify before the
TCP FIN (the lingering close goes through the filters)."""

import os
import socket
import ssl
import subprocess
import time

import pytest

from conftest import MPM, server_status_auto, wait_for


@pytest.fixture
def tls_server(apache_factory, tmp_path):
    crt = os.path.join(str(tmp_path), "srv.crt")
    key = os.path.join(str(tmp_path), "srv.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=localhost", "-days", "2", "-keyout", key,
                    "-out", crt], check=True, capture_output=True, timeout=60)
    srv = apache_factory(start=False, modules=("socache_shmcb", "ssl"),
                         nports=2, keepalive_timeout=2)
    return srv, crt, key


def _start(srv, crt, key):
    # The second port speaks TLS; the key and certificate are copied into
    # the server root (read by the root parent at start-up).
    with open(crt, "rb") as f:
        crt_data = f.read()
    with open(key, "rb") as f:
        key_data = f.read()
    root_crt = os.path.join(srv.root, "srv.crt")
    root_key = os.path.join(srv.root, "srv.key")
    for path, data in ((root_crt, crt_data), (root_key, key_data)):
        with open(path, "wb") as f:
            f.write(data)
    srv.extra = lambda s: ("<VirtualHost 127.0.0.1:%d>\n"
                           "  SSLEngine on\n"
                           "  SSLCertificateFile %s\n"
                           "  SSLCertificateKeyFile %s\n"
                           "</VirtualHost>\n" % (s.ports[1], root_crt, root_key))
    srv.start()
    return srv.ports[1]


def _tls_conn(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost",
                           suppress_ragged_eofs=False)


def _get(s, path="/small.txt"):
    s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, "closed before the response"
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
            .split(b":")[1])
    while len(body) < n:
        body += s.recv(65536)
    return head, body


def test_tls_keepalive_parks_and_ends_with_close_notify(tls_server):
    srv, crt, key = tls_server
    port = _start(srv, crt, key)
    s = _tls_conn(port)
    try:
        for _ in range(3):
            head, body = _get(s)
            assert head.startswith(b"HTTP/1.1 200") and body == b"small\n"
        if MPM == "hybrid":     # event only samples this counter (see README)
            assert wait_for(lambda: server_status_auto(srv.port)
                            ["ConnsAsyncKeepAlive"] >= 1, 5), \
                "the idle TLS connection is not parked as keep-alive"
        t0 = time.monotonic()
        try:
            data = s.recv(1024)      # b"" only after a close_notify
        except ssl.SSLEOFError:
            pytest.fail("TCP closed without a TLS close_notify")
        waited = time.monotonic() - t0
        assert data == b"", data
        assert 1.0 < waited < 4.5, "closed after %.2f s (KeepAliveTimeout 2)" % waited
    finally:
        s.close()
