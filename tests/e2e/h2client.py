"""Minimal HTTP/2 client for the e2e tests: cleartext (h2c, prior knowledge)
or over TLS with ALPN "h2" (tls=True).

Requests are sent with HPACK literal headers (no Huffman, no indexing), so no
HPACK encoder is needed; responses are checked through their DATA frames
only (response header blocks are not decoded)."""

import socket
import ssl
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return (struct.pack(">I", len(payload))[1:] + bytes([ftype, flags])
            + struct.pack(">I", stream) + payload)


def _literal(name, value):
    name, value = name.encode(), value.encode()
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def tls_h2_socket(port, host="127.0.0.1", timeout=10.0):
    """A TLS connection offering only "h2" by ALPN (certificate not checked);
    raises AssertionError unless the server selected h2."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection((host, port), timeout=timeout)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    if s.selected_alpn_protocol() != "h2":
        s.close()
        raise AssertionError("ALPN selected %r, not h2" % s.selected_alpn_protocol())
    return s


class H2Conn:
    def __init__(self, port, host="127.0.0.1", timeout=10.0, tls=False):
        self.tls = tls
        if tls:
            self.sock = tls_h2_socket(port, host, timeout)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self.bodies = {}
        self.done = set()
        self.goaway = None
        self.rst = {}
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def request(self, stream_id, path, authority="localhost"):
        block = b"".join(_literal(k, v) for k, v in (
            (":method", "GET"), (":scheme", "https" if self.tls else "http"),
            (":path", path),
            (":authority", authority)))
        self.sock.sendall(frame(HEADERS, END_STREAM | END_HEADERS, stream_id, block))

    def _need(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                return False
            self.buf += d
        return True

    def read_frame(self):
        """Read and handle one frame; None on EOF."""
        if not self._need(9):
            return None
        ln = int.from_bytes(self.buf[:3], "big")
        if not self._need(9 + ln):
            return None
        ftype, flags = self.buf[3], self.buf[4]
        sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload = bytes(self.buf[9:9 + ln])
        del self.buf[:9 + ln]
        if ftype == SETTINGS and not flags & ACK:
            self.sock.sendall(frame(SETTINGS, ACK, 0))
        elif ftype == DATA:
            self.bodies.setdefault(sid, bytearray()).extend(payload)
            if payload:
                inc = struct.pack(">I", len(payload))
                self.sock.sendall(frame(WINDOW_UPDATE, 0, 0, inc)
                                  + frame(WINDOW_UPDATE, 0, sid, inc))
            if flags & END_STREAM:
                self.done.add(sid)
        elif ftype == HEADERS:
            self.bodies.setdefault(sid, bytearray())
            if flags & END_STREAM:
                self.done.add(sid)
        elif ftype == GOAWAY:
            self.goaway = payload
        elif ftype == RST_STREAM:
            self.rst[sid] = payload
            self.done.add(sid)
        elif ftype == PING and not flags & ACK:
            self.sock.sendall(frame(PING, ACK, 0, payload))
        return ftype, flags, sid, payload

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def check_parallel_streams(self, n=100, timeout=10.0):
        """Send n GETs (alternately /index.html and /small.txt of the
        harness's docroot) before reading anything, then assert that all
        complete, none is reset and every body is right."""
        ids = list(range(1, 2 * n, 2))
        for i, sid in enumerate(ids):
            self.request(sid, "/small.txt" if i % 2 else "/index.html")
        deadline = time.monotonic() + timeout
        while len(self.done) < len(ids) and time.monotonic() < deadline:
            assert self.read_frame() is not None, "server closed: %d/%d streams done, goaway=%r" % (
                len(self.done), len(ids), self.goaway)
        assert len(self.done) == len(ids), "%d of %d streams completed" % (len(self.done), len(ids))
        assert not self.rst, "streams reset: %s" % self.rst
        for i, sid in enumerate(ids):
            want = b"small\n" if i % 2 else b"<html>e2e index</html>\n"
            assert bytes(self.bodies[sid]) == want, "stream %d body %r" % (sid, self.bodies[sid][:50])


def upgrade_h2c(port, path="/small.txt", host="127.0.0.1", timeout=10.0):
    """HTTP/1.1 request with Upgrade: h2c; returns an H2Conn after the 101
    (the upgraded request is stream 1)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n"
                  "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                  "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n" % path).encode())
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise ConnectionError("closed before 101: %r" % bytes(buf))
        buf += d
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise AssertionError("no 101 Switching Protocols: %r" % head)
    c = H2Conn.__new__(H2Conn)
    c.sock, c.buf, c.tls = sock, bytearray(rest), False
    c.bodies, c.done, c.goaway, c.rst = {}, set(), None, {}
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
    return c
