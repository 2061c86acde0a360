"""The most common Debian stack: PHP-FPM behind mod_proxy_fcgi on a unix
socket.  The test starts its own php-fpm (a pool in a temp dir) and stops it
by pid."""

import os
import shutil
import threading
import time

import pytest

from backends import PHP_FPM, start_php_fpm, stop_php_fpm
from conftest import HttpConn, http_get, make_tree, wait_for

pytestmark = pytest.mark.skipif(PHP_FPM is None, reason="php-fpm is not installed "
                                "(make deps installs it)")


@pytest.fixture
def php_fpm():
    d = make_tree("hyb-php-")
    proc, sock = start_php_fpm(d, "e2e", 40)
    try:
        assert wait_for(lambda: os.path.exists(sock), 15), "php-fpm did not start"
        yield sock
    finally:
        stop_php_fpm(proc)
        shutil.rmtree(d, ignore_errors=True)


def _php_server(apache_factory, sock):
    files = {
        "hello.php": b"<?php echo 'php says ', 6*7, \"\\n\";",
        "sleep.php": b"<?php usleep(100000); echo \"slept\\n\";",
    }
    extra = ('<FilesMatch "\\.php$">\n'
             '    SetHandler "proxy:unix:%s|fcgi://localhost/"\n'
             '</FilesMatch>\n' % sock)
    return apache_factory(modules=("proxy", "proxy_fcgi"), extra=extra, files=files,
                          max_keepalive_requests=0)


def test_php_page(apache_factory, php_fpm):
    srv = _php_server(apache_factory, php_fpm)
    r = http_get(srv.port, "/hello.php")
    assert r.status == 200 and r.body == b"php says 42\n", r


def test_slow_php_does_not_slow_static(apache_factory, php_fpm):
    """200 concurrent requests to a PHP script that sleeps 100 ms all
    succeed; static requests on another connection keep answering fast."""
    srv = _php_server(apache_factory, php_fpm)
    results, lock = [], threading.Lock()

    def one():
        try:
            r = http_get(srv.port, "/sleep.php", timeout=30)
            ok = r.status == 200 and r.body == b"slept\n"
        except Exception as e:
            ok = repr(e)
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    static = HttpConn(srv.port, timeout=10)
    worst = 0.0
    try:
        while any(t.is_alive() for t in threads):
            t0 = time.monotonic()
            assert static.request("/small.txt").status == 200
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.02)
    finally:
        static.close()
        for t in threads:
            t.join(30)
    bad = [r for r in results if r is not True]
    assert len(results) == 200 and not bad, bad[:3]
    assert worst < 1.0, "a static request took %.2f s during the PHP load" % worst
