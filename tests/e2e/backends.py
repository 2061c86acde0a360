"""Processes the tests and benches start next to Apache: php-fpm on a unix
socket, and small Python backends on a loopback port.  Each is started in
its own session, waited for by polling, and stopped by its pid only."""

import glob
import os
import signal
import socket
import subprocess
import sys

from conftest import wait_for

PHP_FPM = (sorted(glob.glob("/usr/sbin/php-fpm*")) or [None])[-1]


def stop_process(proc, sig=signal.SIGTERM, grace=10):
    """Signal proc (if still running), then kill it after `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_php_fpm(d, pool, children, backlog=None):
    """php-fpm with one static pool of `children` in directory d, listening
    on d/php.sock: (process, socket path).  The socket exists once
    wait_for_socket(path) is true."""
    sock = os.path.join(d, "php.sock")
    conf = os.path.join(d, "php-fpm.conf")
    with open(conf, "w") as f:
        f.write("[global]\nerror_log = %s/fpm.log\ndaemonize = no\n"
                "[%s]\nuser = www-data\ngroup = www-data\nlisten = %s\n"
                "listen.owner = www-data\nlisten.group = www-data\n"
                "pm = static\npm.max_children = %d\n" % (d, pool, sock, children))
        if backlog is not None:
            f.write("listen.backlog = %d\n" % backlog)
    proc = subprocess.Popen([PHP_FPM, "-F", "-y", conf, "-p", d],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    return proc, sock


def stop_php_fpm(proc):
    """SIGQUIT: php-fpm's graceful stop."""
    stop_process(proc, signal.SIGQUIT)


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def start_python_backend(code, port, life=120, what="backend"):
    """Run `code` (a script taking the port and its lifetime in seconds as
    arguments) and wait until it accepts on 127.0.0.1:port."""
    proc = subprocess.Popen([sys.executable, "-c", code, str(port), str(life)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    if not wait_for(lambda: port_open(port), 15):
        stop_process(proc, signal.SIGKILL, 5)
        raise AssertionError("%s did not start" % what)
    return proc
