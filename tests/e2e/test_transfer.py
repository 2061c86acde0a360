"""Large responses to slow readers (write completion) and lingering close."""

import errno
import hashlib
import os
import selectors
import socket
import time

import pytest

from conftest import (HttpConn, build_request, http_get, slow_download, tcp_state,
                      wait_for)

BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def big_file():
    data = os.urandom(BIG)
    return data, hashlib.sha256(data).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("sendfile", ["Off", "On"])
def test_big_file_to_slow_reader_arrives_intact(apache_factory, big_file, sendfile):
    data, digest = big_file
    srv = apache_factory(files={"big.bin": data}, timeout=20, keepalive_timeout=5,
                         extra="EnableSendfile %s\nEnableMMAP On" % sendfile)
    side = {}

    def midway():
        t0 = time.monotonic()
        side["status"] = http_get(srv.port, "/small.txt", timeout=5).status
        side["latency"] = time.monotonic() - t0

    head, got_digest, c = slow_download(srv.port, "/big.bin", BIG, midway=midway)
    with c:
        assert "Content-Length: %d" % BIG in head, head
        assert got_digest == digest, "50 MB body corrupted (EnableSendfile %s)" % sendfile
        # Another client was served during the slow transfer.
        assert side.get("status") == 200, side
        assert side["latency"] < 1.0, side
        # The connection is kept alive after the big response.
        c.sock.settimeout(5)
        r = c.request("/small.txt")
        assert r.status == 200 and r.body == b"small\n"


def test_range_request_on_big_file(apache_factory, big_file):
    data, _ = big_file
    srv = apache_factory(files={"big.bin": data})
    with HttpConn(srv.port, timeout=10) as c:
        r = c.request("/big.bin", headers={"Range": "bytes=1000-1999"})
        assert r.status == 206
        assert r.body == data[1000:2000]
        r = c.request("/big.bin", method="HEAD")
        assert r.status == 200 and r.header("content-length") == str(BIG)


def test_413_with_lingering_close(apache_factory):
    srv = apache_factory(extra="<Location /upload>\n    LimitRequestBody 1\n</Location>")
    total = 2 * 1024 * 1024
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(build_request("/upload/x", method="POST",
                            headers={"Content-Length": str(total),
                                     "Content-Type": "application/octet-stream"}))
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    chunk = b"x" * 16384
    sent, resp = 0, bytearray()
    send_error = recv_error = None
    eof = False          # the server finished its response (FIN)
    finished = False     # the client sent its whole body (or could not)
    deadline = time.monotonic() + 15
    try:
        while not (eof and finished) and time.monotonic() < deadline:
            for key, mask in sel.select(timeout=0.5):
                if mask & selectors.EVENT_READ and not eof:
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        data = None
                    except OSError as e:
                        recv_error = e
                        data = b""
                    if data == b"":
                        eof = True
                    elif data:
                        resp += data
                if mask & selectors.EVENT_WRITE and not finished:
                    try:
                        sent += s.send(chunk[:min(len(chunk), total - sent)])
                    except BlockingIOError:
                        pass
                    except OSError as e:
                        send_error = e
                        finished = True
                    if sent >= total:
                        finished = True
                        s.shutdown(socket.SHUT_WR)
                events = (0 if eof else selectors.EVENT_READ) | \
                    (0 if finished else selectors.EVENT_WRITE)
                if events:
                    sel.modify(s, events)
    finally:
        sel.close()
        s.close()
    assert eof, "no EOF within 15 s (sent %d bytes, got %r)" % (sent, bytes(resp[:200]))
    assert recv_error is None, "reading the 413 failed: %r (got %d bytes)" % (recv_error, len(resp))
    text = bytes(resp).decode("latin-1")
    assert text.startswith("HTTP/1.1 413"), text[:300]
    head, _, body = text.partition("\r\n\r\n")
    cl = [l for l in head.split("\r\n") if l.lower().startswith("content-length:")]
    if cl:
        assert len(body) == int(cl[0].split(":")[1]), "413 body truncated: %r" % text
    else:  # body delimited by the close: the whole error document arrived
        assert body.rstrip().endswith("</html>"), "413 body truncated: %r" % text
    # With a proper lingering close the server drains the body, so the
    # client can finish sending without EPIPE/ECONNRESET.
    assert send_error is None or send_error.errno not in (errno.ECONNRESET, errno.EPIPE), \
        "server reset the connection while the client was sending: %r (after %d bytes)" % (
            send_error, sent)
    assert sent == total, "only %d of %d body bytes could be sent" % (sent, total)
    assert http_get(srv.port, "/small.txt").status == 200


@pytest.mark.slow
@pytest.mark.parametrize("sendfile", ["Off", "On"])
def test_stalled_reader_governed_by_timeout_not_keepalive_timeout(apache_factory, big_file,
                                                                   sendfile):
    """A client that requests a big file and never reads: the response is
    pending (write completion), so Timeout applies, not KeepAliveTimeout."""
    data, _ = big_file
    srv = apache_factory(files={"big.bin": data}, timeout=4, keepalive_timeout=1,
                         extra="EnableSendfile %s" % sendfile)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(5)
    s.connect(("127.0.0.1", srv.port))
    try:
        s.sendall(build_request("/big.bin"))
        t0 = time.monotonic()
        cport = s.getsockname()[1]

        def server_side_closed():
            st = tcp_state(srv.port, cport)
            return st is not None and st != "ESTABLISHED"
        assert wait_for(lambda: tcp_state(srv.port, cport) == "ESTABLISHED", 2)
        early = wait_for(server_side_closed, 2.5)
        assert not early, ("server closed the stalled connection after %.2fs: "
                           "KeepAliveTimeout (1 s) applied instead of Timeout (4 s)"
                           % (time.monotonic() - t0))
        closed = wait_for(server_side_closed, 10)
        dt = time.monotonic() - t0
        assert closed, "stalled connection still open %.1fs after the request (Timeout 4)" % dt
        assert 3.0 <= dt <= 10.0, dt
    finally:
        s.close()
    assert http_get(srv.port, "/small.txt").status == 200
