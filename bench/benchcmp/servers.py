"""The servers bench/compare measures: Apache httpd with a chosen MPM, or
nginx, each from a configuration generated here into a scratch directory,
listening on one free 127.0.0.1 port, started and stopped by its pid.

Owns: the scratch directory of each server (removed when it stops), the
server's processes (the parent it starts and their descendants, found in
/proc), and the counters read from /proc: CPU time and context switches of
every process and thread of the server.

Every Apache variant gets the same configuration (see apache_conf): the
same process and thread shape, no access log, one 1 KB static file.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MODDIR = "/usr/lib/apache2/modules"
APACHE = os.environ.get("APACHE_BIN", "/usr/sbin/apache2")
ONE_KB = b"x" * 1023 + b"\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 20.0


class Variant:
    """One server to measure: name as shown in the table, kind 'apache' or
    'nginx', and for Apache the MPM's module file and structure name."""

    def __init__(self, name, kind, so=None, module=None):
        self.name, self.kind, self.so, self.module = name, kind, so, module

    def describe(self):
        return {"name": self.name, "kind": self.kind, "so": self.so,
                "module": self.module}


def mpm_variant(spec, hybrid_so):
    """--mpm NAME (a stock module in MODDIR, or 'hybrid') or NAME=PATH."""
    name, _, path = spec.partition("=")
    name = name.strip()
    if not name.replace("_", "").isalnum():
        raise ValueError("bad MPM name %r" % spec)
    if not path:
        path = hybrid_so if name == "hybrid" else os.path.join(
            MODDIR, "mod_mpm_%s.so" % name)
    if not os.path.isfile(path):
        raise ValueError("no module file %s for --mpm %s" % (path, spec))
    m = re.match(r"mod_mpm_(\w+)\.so$", os.path.basename(path))
    module = "mpm_%s_module" % (m.group(1) if m else name)
    return Variant(name, "apache", os.path.abspath(path), module)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _user_lines(kind):
    if os.geteuid() != 0:
        return ""
    return "User www-data\nGroup www-data\n" if kind == "apache" else "user www-data;\n"


def apache_conf(root, port, variant, shape):
    """The one Apache configuration every MPM gets.  shape: children, threads
    (prefork: children x threads processes)."""
    c, t = shape["children"], shape["threads"]
    if variant.module == "mpm_prefork_module":
        mpm = ("StartServers %d\nServerLimit %d\nMaxRequestWorkers %d\n"
               "MinSpareServers 1\nMaxSpareServers %d\n") % (c * t, c * t, c * t, c * t)
    else:
        mpm = ("StartServers {c}\nServerLimit {c}\nThreadLimit {tl}\n"
               "ThreadsPerChild {t}\nMaxRequestWorkers {w}\n"
               "MinSpareThreads {t}\nMaxSpareThreads {w}\n").format(
                   c=c, t=t, tl=max(64, t), w=c * t)
    return """ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/apache2.pid"
DefaultRuntimeDir "{root}/run"
ErrorLog "{root}/error.log"
LogLevel warn
{user}LoadModule {module} "{so}"
LoadModule authz_core_module "{moddir}/mod_authz_core.so"
LoadModule mime_module "{moddir}/mod_mime.so"
TypesConfig /etc/mime.types
{mpm}MaxConnectionsPerChild 0
KeepAlive On
KeepAliveTimeout 30
MaxKeepAliveRequests 0
Timeout 60
EnableSendfile Off
EnableMMAP On
DocumentRoot "{root}/htdocs"
<Directory />
    Require all denied
</Directory>
<Directory "{root}/htdocs">
    Require all granted
</Directory>
""".format(root=root, port=port, user=_user_lines("apache"), module=variant.module,
           so=variant.so, moddir=MODDIR, mpm=mpm)


def nginx_conf(root, port, workers):
    """nginx with the same file, no access log, the same keep-alive limits."""
    return """daemon off;
master_process on;
worker_processes {workers};
{user}pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    default_type text/html;
    sendfile off;
    keepalive_timeout 30s;
    keepalive_requests 1000000000;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/htdocs;
    }}
}}
""".format(workers=workers, user=_user_lines("nginx"), root=root, port=port)


def _read(path):
    with open(path) as f:
        return f.read()


def _ppid_map():
    """pid -> ppid of every process now."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = _read("/proc/%s/stat" % d)
        except OSError:
            continue
        out[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def descendants(pid):
    """pid and every process below it."""
    pmap, found, todo = _ppid_map(), [pid], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in pmap.items() if pp == p]
        found += kids
        todo += kids
    return found


def proc_counters(pids, parent):
    """(CPU seconds, context switches) of the processes pids: user + system
    time of each (all its threads), plus the reaped children's time the
    parent holds; voluntary + involuntary switches of every live thread."""
    ticks, cs = 0, 0
    for pid in pids:
        try:
            f = _read("/proc/%d/stat" % pid)
            f = f[f.rindex(")") + 2:].split()
            ticks += int(f[11]) + int(f[12])
            if pid == parent:
                ticks += int(f[13]) + int(f[14])
            for tid in os.listdir("/proc/%d/task" % pid):
                for line in _read("/proc/%d/task/%s/status" % (pid, tid)).splitlines():
                    if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")):
                        cs += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return ticks / CLK_TCK, cs


class Server:
    """One running server of a variant.  cpu: the cpu it is pinned to, or
    None.  Use as a context manager: started on enter, stopped on exit."""

    def __init__(self, variant, shape, cpu=None, keep=False):
        self.variant, self.shape, self.cpu, self.keep = variant, shape, cpu, keep
        self.root = self.proc = None
        self.port = None
        self.seen = {}      # pid -> its start time, of every process seen

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def url(self):
        return "http://127.0.0.1:%d/index.html" % self.port

    def _prepare(self):
        self.root = tempfile.mkdtemp(prefix="bench-compare-")
        os.chmod(self.root, 0o755)
        _check_reachable(self.root)
        for sub in ("htdocs", "run", "tmp"):
            os.mkdir(os.path.join(self.root, sub))
            os.chmod(os.path.join(self.root, sub), 0o755)
        page = os.path.join(self.root, "htdocs", "index.html")
        with open(page, "wb") as f:
            f.write(ONE_KB)
        os.chmod(page, 0o644)
        self.port = free_port()
        conf = os.path.join(self.root, "server.conf")
        if self.variant.kind == "nginx":
            text = nginx_conf(self.root, self.port, self.nginx_workers())
            cmd = ["nginx", "-p", self.root, "-c", conf, "-e", self.root + "/error.log"]
        else:
            text = apache_conf(self.root, self.port, self.variant, self.shape)
            cmd = [APACHE, "-f", conf, "-DFOREGROUND"]
        with open(conf, "w") as f:
            f.write(text)
        return cmd

    def nginx_workers(self):
        return 1 if self.cpu is not None else (os.cpu_count() or 1)

    def expected_children(self):
        c, t = self.shape["children"], self.shape["threads"]
        if self.variant.kind == "nginx":
            return self.nginx_workers()
        return c * t if self.variant.module == "mpm_prefork_module" else c

    def start(self):
        cmd = self._prepare()
        cpu = self.cpu
        pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.proc = subprocess.Popen(cmd, cwd=self.root, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.root, "stderr"), "wb"),
                                     preexec_fn=pre, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not (self._answers() and len(self.pids()) > self.expected_children()):
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s at start-up:\n%s" % (
                    self.variant.name, self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not start within %d s:\n%s" % (
                    self.variant.name, START_TIMEOUT, self.log_tail()))
            time.sleep(0.05)

    def _answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def pids(self):
        """The server's processes now (every one ever seen is remembered, so
        that stop() can make sure none is left)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        pids = descendants(self.proc.pid)
        for pid in pids:
            self.seen.setdefault(pid, _start_time(pid))
        return pids

    def counters(self):
        return proc_counters(self.pids(), self.proc.pid)

    def log_tail(self, n=20):
        text = ""
        for name in ("stderr", "error.log"):
            try:
                text += _read(os.path.join(self.root, name))
            except OSError:
                pass
        return "\n".join(text.splitlines()[-n:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.pids()
            self.proc.send_signal(signal.SIGTERM if self.variant.kind == "apache"
                                  else signal.SIGQUIT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        for pid, started in sorted(self.seen.items()):
            while _alive(pid, started) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)
        if self.root and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        elif self.root:
            print("bench/compare: kept %s" % self.root, file=sys.stderr)


def _check_reachable(root):
    """As root the servers' children run as www-data: every directory above
    the scratch directory must let others through."""
    if os.geteuid() != 0:
        return
    d = os.path.dirname(root)
    while d not in ("/", ""):
        if not os.stat(d).st_mode & 0o001:
            raise RuntimeError("www-data cannot enter %s (above the scratch "
                               "directory %s): set TMPDIR to a directory it can "
                               "reach, e.g. /tmp" % (d, root))
        d = os.path.dirname(d)


def _start_time(pid):
    """A process's start time (clock ticks after boot), or None."""
    try:
        stat = _read("/proc/%d/stat" % pid)
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def _alive(pid, started):
    """The very process seen under our server (same pid and start time) is
    still there and not a zombie."""
    try:
        stat = _read("/proc/%d/stat" % pid)
    except OSError:
        return False
    rest = stat[stat.rindex(")") + 2:].split()
    return started is not None and rest[19] == started and rest[0] != "Z"
