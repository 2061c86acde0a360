"""The ExtendedStatus table of the connections the listener holds, checked in
a real browser (headless Chromium): slow clients (partial request heads) are
found by address and age on /server-status, as `R` rows are under event.

Chromium is a test dependency (`make test-deps`); without it these tests
skip with a message saying so.  Each Chromium run uses a private profile
directory and is bounded by a timeout.  The screenshot is checked with
zlib/struct only: a PNG of the window's size with more than one colour.
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import zlib

import pytest

from conftest import (MPM, KeepAliveLoad, http_get, idle_clients,
                      server_status_auto, wait_for)

SLOW = 20           # clients that send part of a request head, then stall
IDLE = 200          # keep-alive clients idle after one request
LOADERS = 4         # keep-alive clients requesting in a loop
ROWS = 100          # rows per child

MPM_2X25 = {"StartServers": 2, "ServerLimit": 2, "ThreadsPerChild": 25,
            "MaxRequestWorkers": 50, "MinSpareThreads": 25, "MaxSpareThreads": 75}

hybrid_only = pytest.mark.skipif(MPM != "hybrid", reason="hybrid's own table")


# --------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------

def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed: `make test-deps` installs it "
                "(Debian package chromium)")
    return None


def chromium(args, url, timeout=90):
    """Run headless Chromium on url; its stdout.  A private profile."""
    with tempfile.TemporaryDirectory(prefix="hyb-chromium-") as prof:
        cmd = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
               "--user-data-dir=" + prof] + args + [url]
        p = subprocess.run(cmd, capture_output=True, timeout=timeout,
                           env=dict(os.environ, HOME=prof))
    assert p.returncode == 0, "chromium failed (%d): %s" % (
        p.returncode, p.stderr.decode(errors="replace")[-2000:])
    return p.stdout.decode("utf-8", errors="replace")


def png_pixels(path):
    """(width, height, set of distinct pixels) of an 8-bit PNG, decoded with
    zlib and struct (no interlacing; colour types gray, RGB, RGBA)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _c, _f, interlace = hdr
    assert depth == 8 and interlace == 0 and ctype in (0, 2, 6), hdr
    bpp = {0: 1, 2: 3, 6: 4}[ctype]
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        if y % 8 == 0:          # enough to tell a blank page from a table
            colours.update(bytes(line[i:i + bpp]) for i in range(0, stride, bpp))
        prev = line
    return w, h, colours


def screenshot_ok(url, tmpdir):
    path = os.path.join(tmpdir, "status.png")
    chromium(["--window-size=1280,4400", "--screenshot=" + path], url)
    assert os.path.getsize(path) > 10000, "screenshot too small: %d bytes" % (
        os.path.getsize(path))
    w, h, colours = png_pixels(path)
    assert (w, h) == (1280, 4400), (w, h)
    assert len(colours) > 1, "blank screenshot: colours %s" % colours
    return path


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

def slow_clients(port, n):
    """n connections that sent a request line and some whole header lines,
    no end of head; each a different length.  [(sock, port, bytes, t0)]"""
    out = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        t0 = time.monotonic()
        head = b"GET /small.txt?slow=%d HTTP/1.1\r\nHost: localhost\r\nX-Pad: %s\r\n" % (
            i, b"p" * i)
        s.sendall(head)
        out.append((s, s.getsockname()[1], len(head), t0))
    return out


def close_all(items):
    for x in items:
        try:
            (x[0] if isinstance(x, tuple) else x).close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# Parsing (the page as the server sends it, or Chromium's DOM)
# --------------------------------------------------------------------------

def cells_of(row):
    return [re.sub(r"<[^>]*>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def conn_table(html):
    """Rows of the hybrid connection table: [dict]."""
    m = re.search(r'<table id="hybrid-conns".*?</table>', html, re.S)
    assert m, "no connection table in the status page"
    rows = []
    for row in re.findall(r"<tr>\s*(<td.*?)</tr>", m.group(0), re.S):
        c = cells_of(row)
        rows.append({"slot": int(c[0]), "pid": int(c[1]), "state": c[2],
                     "client": c[3], "seconds": float(c[4]),
                     "bytes": None if c[5] == "-" else int(c[5])})
    return rows


def conn_notes(html):
    """{slot: (pid, text)} of the lines under the connection table."""
    m = re.search(r'<ul id="hybrid-conns-notes">(.*?)</ul>', html, re.S)
    assert m, "no notes under the connection table"
    notes = {}
    for li in re.findall(r"<li>(.*?)</li>", m.group(1), re.S):
        text = re.sub(r"<[^>]*>", "", li)
        n = re.match(r"slot (\d+), pid (\d+): (.*)", text, re.S)
        assert n, li
        notes[int(n.group(1))] = (int(n.group(2)), n.group(3))
    return notes


def more_counts(note):
    """{state: n} of "N more not shown: keep-alive 12 ..."."""
    m = re.search(r"more not shown:(.*)", note)
    return {s: int(v) for s, v in re.findall(r"([a-z-]+) (\d+)", m.group(1))} if m else {}


def hybrid_table(html):
    """Rows of the hybrid process table: {slot or 'Sum': [cells]}."""
    m = re.search(r'<table id="hybrid-processes".*?</table>', html, re.S)
    assert m, "no hybrid table in the status page"
    rows = {}
    for row in re.findall(r"<tr>\s*(<td.*?)</tr>", m.group(0), re.S):
        c = cells_of(row)
        rows[c[0]] = c
    return rows


COLS = ["total", "gathering", "keep-alive", "writing", "wait-io", "closing", "in a worker"]


def table_counts(cells):
    return dict(zip(COLS, (int(c) for c in cells[4:4 + len(COLS)])))


def check_slow_rows(rows, slow, now, min_age):
    """Every slow client is one gathering row with its address, its bytes
    and an age between min_age and its real age."""
    by_client = {r["client"]: r for r in rows if r["state"] == "gathering"}
    for _s, port, nbytes, t0 in slow:
        r = by_client.get("127.0.0.1:%d" % port)
        assert r, "slow client 127.0.0.1:%d not in the table: %s" % (port, rows)
        assert r["bytes"] == nbytes, (r, nbytes)
        assert min_age <= r["seconds"] <= now - t0 + 0.2, (r, now - t0)


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

@hybrid_only
def test_table_of_slow_idle_and_busy_clients_in_a_browser(apache_factory, tmp_path):
    """20 slow clients + 200 idle keep-alive + load on 2 x 25 workers: with
    ExtendedStatus On the page lists every slow client with its address,
    age and bytes of head, at most 100 rows per child with the rest counted
    by state; the counts add up; Chromium renders the page (DOM and a
    screenshot that is not blank)."""
    chromium_binary()
    srv = apache_factory(mpm=MPM_2X25, keepalive_timeout=90, timeout=90,
                         max_keepalive_requests=0)
    idle = idle_clients(srv.port, IDLE)
    slow = slow_clients(srv.port, SLOW)
    load = KeepAliveLoad(srv.port, LOADERS, limit_s=90, pause=0.005)
    url = "http://127.0.0.1:%d/server-status" % srv.port
    try:
        def slow_listed_and_aged():
            html = http_get(srv.port, "/server-status").body.decode("latin-1")
            rows = conn_table(html)
            g = [r for r in rows if r["state"] == "gathering"]
            return html if len(g) == SLOW and min(r["seconds"] for r in g) >= 2.0 else None
        html = wait_for(slow_listed_and_aged, 20)
        assert html, "the table never listed %d slow clients aged 2 s: %s" % (
            SLOW, conn_table(http_get(srv.port, "/server-status").body.decode("latin-1")))
        now = time.monotonic()
        rows = conn_table(html)
        check_slow_rows(rows, slow, now, 1.5)

        # Per child: at most 100 rows; shown + left out = what the child
        # holds; over all children, the 20 slow ones and the 200 idle ones.
        notes = conn_notes(html)
        pids = set(srv.children())
        assert {pid for pid, _t in notes.values()} == pids, (notes, pids)
        total = {}
        for slot, (pid, text) in notes.items():
            mine = [r for r in rows if r["slot"] == slot]
            assert all(r["pid"] == pid for r in mine), mine
            assert len(mine) <= ROWS, len(mine)
            m = re.match(r"as of (\d+\.\d) s ago; (\d+) shown", text)
            assert m and float(m.group(1)) <= 3.0 and int(m.group(2)) == len(mine), text
            more = more_counts(text)
            if more:
                assert len(mine) == ROWS, (len(mine), text)
            for r in mine:
                total[r["state"]] = total.get(r["state"], 0) + 1
            for st, n in more.items():
                total[st] = total.get(st, 0) + n
        assert total.get("gathering") == SLOW, total
        assert total.get("keep-alive", 0) >= IDLE, total
        assert sum(total.values()) >= SLOW + IDLE, total

        # The process table: every row adds up; the gathering column = 20.
        procs = hybrid_table(html)
        for slot, cells in procs.items():
            c = table_counts(cells)
            assert c["total"] == sum(c[k] for k in COLS[1:]), (slot, cells)
        assert table_counts(procs["Sum"])["gathering"] == SLOW, procs["Sum"]

        # ?auto is unchanged by the table: no line of it there.
        auto = http_get(srv.port, "/server-status?auto").body.decode("latin-1")
        assert "hybrid-conns" not in auto and "<" not in auto, auto[:500]
        assert server_status_auto(srv.port)["ConnsAsyncGathering"] == SLOW

        # A real browser: the DOM it built has the same rows ...
        dom = chromium(["--dump-dom"], url)
        drows = conn_table(dom)
        check_slow_rows(drows, slow, time.monotonic(), 1.5)
        assert "more not shown" in dom, dom[-3000:]
        # ... and it draws the page.
        screenshot_ok(url, str(tmp_path))
    finally:
        errors = load.stop()
        close_all(slow)
        close_all(idle)
    assert not errors, errors
    assert load.count > 0


@hybrid_only
def test_table_follows_extended_status_and_empties(apache_factory):
    """ExtendedStatus Off: no table (and the listener writes none).  On: a
    slow client that goes away leaves the table within about a second."""
    off = apache_factory(mpm=MPM_2X25, extra="ExtendedStatus Off")
    s = socket.create_connection(("127.0.0.1", off.port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\n")
    try:
        assert wait_for(lambda: server_status_auto(off.port)["ConnsAsyncGathering"] == 1, 10)
        html = http_get(off.port, "/server-status").body.decode("latin-1")
        assert 'id="hybrid-processes"' in html
        assert "hybrid-conns" not in html
    finally:
        s.close()
    off.stop()

    on = apache_factory(mpm=MPM_2X25)
    slow = slow_clients(on.port, 1)
    try:
        def listed():
            rows = conn_table(http_get(on.port, "/server-status").body.decode("latin-1"))
            return [r for r in rows if r["state"] == "gathering"]
        assert wait_for(listed, 10), "the slow client was never listed"
    finally:
        close_all(slow)
    assert wait_for(lambda: not listed(), 5), "a closed client stayed in the table"


def test_slow_clients_are_found_on_the_status_page_in_a_browser(apache_factory, tmp_path):
    """The same check under both MPMs: an admin finds 20 slow clients by
    address and age on /server-status, rendered by Chromium.  Under event
    they are `R` rows of the worker table (client address, SS seconds);
    under hybrid they hold no worker and are gathering rows of the
    connection table (address with port, seconds, bytes of head)."""
    chromium_binary()
    srv = apache_factory(mpm=MPM_2X25, timeout=90)
    slow = slow_clients(srv.port, SLOW)
    url = "http://127.0.0.1:%d/server-status" % srv.port
    try:
        time.sleep(0)       # nothing to wait for but the clients' age:
        assert wait_for(lambda: time.monotonic() - slow[-1][3] >= 2.5, 5)
        dom = wait_for(lambda: (lambda d: d if _slow_rows(d) >= SLOW else None)(
            chromium(["--dump-dom"], url)), 30)
        assert dom, "the browser's page never showed %d slow clients" % SLOW
        if MPM == "hybrid":
            check_slow_rows(conn_table(dom), slow, time.monotonic(), 2.0)
        else:
            for row in _event_r_rows(dom):
                assert row["client"] == "127.0.0.1" and row["ss"] >= 2, row
        screenshot_ok(url, str(tmp_path))
    finally:
        close_all(slow)


def _event_r_rows(html):
    """`R` rows of mod_status's worker table: [{client, ss}]."""
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        c = cells_of(row)
        if len(c) > 11 and c[3] == "R":
            out.append({"ss": int(c[5]), "client": c[11]})
    return out


def _slow_rows(html):
    if MPM == "hybrid":
        if 'id="hybrid-conns"' not in html:
            return 0
        return sum(1 for r in conn_table(html) if r["state"] == "gathering"
                   and r["seconds"] >= 2.0)
    return sum(1 for r in _event_r_rows(html) if r["ss"] >= 2)


@hybrid_only
def test_every_hybrid_key_and_metric_is_documented(apache_factory):
    """Every ?auto key the hybrid MPM adds (and the async keys it fills) and
    every metric family of the hybrid-metrics handler is named in the
    README's Monitoring section and in docs/monitoring.md."""
    srv = apache_factory(mpm=MPM_2X25, extra="<Location /metrics>\n"
                         "    SetHandler hybrid-metrics\n</Location>\n")
    auto = http_get(srv.port, "/server-status?auto").body.decode("latin-1")
    keys = [k for k in re.findall(r"^([A-Za-z]+):", auto, re.M)
            if k.startswith(("Hybrid", "ConnsAsync")) or k in ("ConnsTotal", "ServerMPM")]
    metrics = re.findall(r"^# TYPE (\w+) ", http_get(srv.port, "/metrics").body.decode(), re.M)
    assert len(keys) > 10 and len(metrics) > 10, (keys, metrics)
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    m = re.search(r"^## Monitoring\n(.*?)^## ", readme, re.S | re.M)
    assert m, "no Monitoring section in README.md"
    with open(os.path.join(root, "docs", "monitoring.md")) as f:
        doc = f.read()
    for where, text in (("README.md Monitoring", m.group(1)), ("docs/monitoring.md", doc)):
        missing = [n for n in keys + metrics if not re.search(r"\b%s\b" % n, text)]
        assert not missing, "%s does not name %s" % (where, missing)
