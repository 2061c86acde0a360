"""Shipping: the Debian package, `make install`/`make uninstall`, the API guard.

* The API guard: a module built with a minimum module API above the running
  httpd's (-DHYB_MMN_MINOR_MIN=9999) fails `apache2 -t` with HYB0110 naming
  both levels; the normal build passes and logs its version (HYB0109).
* `make install DESTDIR=...` twice over an edited mpm_hybrid.conf keeps the
  edit; `make uninstall` refuses while mpm_hybrid is enabled, then removes
  what install put there.  Needs only the build dependencies.
* The package (root only): libapache2-mpm-hybrid is built once per session
  with scripts/build-deb.sh (what `make deb` runs) from a clean copy of the
  tree; its file list, Depends and conffiles are checked with dpkg-deb, and
  lintian must report no error and no warning.  Then, on this machine's real
  /etc/apache2: dpkg -i (nothing enabled), a2dismod/a2enmod to hybrid,
  `apache2ctl start` of Debian's apache2 (its own envvars: run, lock and log
  dirs in a temp dir, Listen on a free loopback port written to ports.conf),
  "Server MPM: hybrid" and a 200, an upgrade over an edited conffile (kept),
  removal while enabled (mpm_event enabled again, the server starts), purge
  (no file left, dpkg -S knows nothing).  invoke-rc.d is replaced by a stub
  on PATH for dpkg, so the maintainer scripts' restart requests are recorded
  and never reach a system service.  /etc/apache2 and /var/lib/apache2
  (a2enmod's state) are restored exactly as found.  A system apache2 that
  runs meanwhile keeps running untouched (nothing restarts it, and its port
  and pid file are not the test's).  Skipped when not root, and, to leave a
  developer's host alone, when the package is installed or mpm_hybrid is
  the enabled MPM already.
"""

import fcntl
import os
import re
import shutil
import signal
import stat
import subprocess

import pytest

from conftest import (MPM, REPO, _all_pids, _is_zombie, _proc_ppid,
                      apache_t, free_ports, http_get, make_tree, minimal_conf, wait_for,
                      write_file)

PKG = "libapache2-mpm-hybrid"
ETC = "/etc/apache2"
STATE = "/var/lib/apache2"
SO_PATH = "/usr/lib/apache2/modules/mod_mpm_hybrid.so"
PKG_FILES = {"/etc/apache2/mods-available/mpm_hybrid.load",
             "/etc/apache2/mods-available/mpm_hybrid.conf", SO_PATH}
# Held while /etc/apache2 is changed or compared (test_debian_tooling too).
ETC_LOCK = "/tmp/hyb-e2e-etc-apache2.lock"
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

hybrid_only = pytest.mark.skipif(MPM != "hybrid", reason="hybrid's packaging (MPM=event run)")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the package test installs libapache2-mpm-hybrid with "
    "dpkg and changes /etc/apache2: run as root")
pytestmark = hybrid_only


def changelog_version():
    with open(os.path.join(REPO, "debian", "changelog")) as f:
        m = re.match(r"^\S+ \(([^)]+)\)", f.readline())
    assert m, "no version on the first line of debian/changelog"
    return m.group(1)


def run(cmd, env=None, cwd=None, timeout=120):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, (p.stdout or "") + (p.stderr or "")


# --------------------------------------------------------------------------
# The API guard and the version line (no root needed)
# --------------------------------------------------------------------------

def _running_mmn():
    with open("/usr/include/apache2/ap_mmn.h") as f:
        text = f.read()
    major = re.search(r"#define MODULE_MAGIC_NUMBER_MAJOR (\d+)", text).group(1)
    minor = re.search(r"#define MODULE_MAGIC_NUMBER_MINOR (\d+)", text).group(1)
    return "%s.%s" % (major, minor)


@pytest.fixture(scope="module")
def future_api_so():
    """The module built to demand module API 20120211.9999."""
    d = make_tree("hyb-e2e-api-")
    rc, out = run(["make", "--no-print-directory", "-f", "Makefile.apxs", "BUILDDIR=" + d,
                   "HYB_EXTRA_CFLAGS=-DHYB_MMN_MINOR_MIN=9999"], cwd=REPO, timeout=300)
    so = os.path.join(d, "mod_mpm_hybrid.so")
    if rc != 0 or not os.path.isfile(so):
        shutil.rmtree(d, ignore_errors=True)
        pytest.fail("building the module with HYB_MMN_MINOR_MIN=9999 failed:\n" + out[-3000:],
                    pytrace=False)
    yield so
    shutil.rmtree(d, ignore_errors=True)


def test_api_guard_refuses_an_older_httpd(tmp_tree, future_api_so):
    conf = minimal_conf(tmp_tree, mpm_loadmodule="LoadModule mpm_hybrid_module %s"
                        % future_api_so)
    rc, out = apache_t(conf)
    assert rc != 0, "configtest passed although the module needs API .9999:\n" + out
    assert "HYB0110" in out, out
    assert "20120211.9999" in out, "the minimum is not named:\n" + out
    assert _running_mmn() in out, "the running level (%s) is not named:\n%s" % (
        _running_mmn(), out)
    assert re.search(r"Apache/2\.4\.\d+", out), "the running version is not named:\n" + out
    assert "Syntax OK" not in out, out


def test_api_guard_passes_the_real_minimum(tmp_tree):
    rc, out = apache_t(minimal_conf(tmp_tree))
    assert rc == 0 and "HYB0110" not in out, out


def test_version_in_startup_log(apache):
    line = wait_for(lambda: re.search(r"HYB0109: mpm_hybrid (\S+) \(.*running in (\S+)\)",
                                      open(apache.error_log).read()), 5)
    assert line, "no HYB0109 version line in %s" % apache.error_log
    assert line.group(1) == changelog_version(), line.group(0)
    assert line.group(2) == _running_mmn(), line.group(0)
    r = http_get(apache.port, "/")
    assert changelog_version() not in r.header("server", ""), r.headers


# --------------------------------------------------------------------------
# make install / make uninstall
# --------------------------------------------------------------------------

def make(*args, env=None):
    return run(["make", "--no-print-directory"] + list(args), env=env, cwd=REPO, timeout=300)


def _read(path):
    with open(path) as f:
        return f.read()


def test_make_install_keeps_edited_conf_and_uninstall(tmp_tree):
    dest = os.path.join(tmp_tree, "dest")
    avail = dest + "/etc/apache2/mods-available"
    conf, load, so = avail + "/mpm_hybrid.conf", avail + "/mpm_hybrid.load", dest + SO_PATH
    shipped = _read(os.path.join(REPO, "conf", "mpm_hybrid.conf"))

    rc, out = make("install", "DESTDIR=" + dest)
    assert rc == 0, out
    assert "install-deps (build)" in out and "install-deps (test)" not in out, \
        "make install must install build dependencies only:\n" + out
    assert os.path.isfile(so) and os.path.isfile(load) and _read(conf) == shipped, out
    edited = shipped.replace("MaxRequestWorkers        150", "MaxRequestWorkers        400")
    assert edited != shipped
    write_file(conf, edited)

    rc, out = make("install", "DESTDIR=" + dest)
    assert rc == 0, out
    assert _read(conf) == edited, "make install overwrote the edited conf:\n" + out
    assert _read(conf + ".new") == shipped, out
    assert "kept " + conf in out, out

    os.makedirs(dest + "/etc/apache2/mods-enabled")
    os.symlink("../mods-available/mpm_hybrid.load", dest + "/etc/apache2/mods-enabled/"
               "mpm_hybrid.load")
    rc, out = make("uninstall", "DESTDIR=" + dest)
    assert rc != 0, "make uninstall went ahead while mpm_hybrid is enabled:\n" + out
    assert "a2dismod mpm_hybrid && a2enmod mpm_event" in out, out
    assert os.path.isfile(so), out
    os.unlink(dest + "/etc/apache2/mods-enabled/mpm_hybrid.load")

    rc, out = make("uninstall", "DESTDIR=" + dest)
    assert rc == 0, out
    for p in (so, load, conf + ".new"):
        assert not os.path.lexists(p), "%s left by make uninstall:\n%s" % (p, out)
    assert _read(conf) == edited, "make uninstall removed the admin's edited conf"
    os.unlink(conf)

    rc, out = make("install", "DESTDIR=" + dest)
    assert rc == 0, out
    rc, out = make("uninstall", "DESTDIR=" + dest)
    assert rc == 0, out
    left = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
    assert not left, "make uninstall left %s" % left


# --------------------------------------------------------------------------
# The package
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def deb():
    """(path of libapache2-mpm-hybrid_*.deb, build output) built once per session."""
    out_dir = make_tree("hyb-e2e-deb-")
    rc, out = run(["bash", os.path.join(REPO, "scripts", "build-deb.sh"), out_dir],
                  timeout=600)
    debs = [f for f in os.listdir(out_dir) if re.match(PKG + r"_.*\.deb$", f)]
    if rc != 0 or len(debs) != 1:
        shutil.rmtree(out_dir, ignore_errors=True)
        pytest.fail("scripts/build-deb.sh failed (rc %d, %s):\n%s" % (rc, debs, out[-4000:]),
                    pytrace=False)
    yield os.path.join(out_dir, debs[0]), out
    shutil.rmtree(out_dir, ignore_errors=True)


def deb_field(path, field):
    rc, out = run(["dpkg-deb", "-f", path, field])
    assert rc == 0, out
    return out.strip()


def test_deb_contents(deb):
    path, _ = deb
    assert deb_field(path, "Package") == PKG
    assert deb_field(path, "Version") == changelog_version()
    rc, out = run(["dpkg-deb", "-c", path])
    assert rc == 0, out
    files = {"/" + l.split()[-1].lstrip("./") for l in out.splitlines() if not l.startswith("d")}
    assert PKG_FILES <= files, out
    allowed = ("/etc/apache2/mods-available/", "/usr/lib/apache2/modules/",
               "/usr/share/doc/%s/" % PKG, "/usr/share/lintian/overrides/")
    assert all(f.startswith(allowed) for f in files), "unexpected files:\n" + out
    assert not any("mods-enabled" in f for f in files), out
    doc = "/usr/share/doc/%s/" % PKG
    assert {doc + "copyright", doc + "changelog.gz"} <= files, out
    assert doc + "README.Debian" in files or doc + "README.Debian.gz" in files, out

    deps = [d.strip() for d in deb_field(path, "Depends").split(",")]
    assert "apache2-api-20120211" in deps, deps
    assert any(re.match(r"libevent-core-2\.1-\d+ ", d) for d in deps), deps
    assert any(re.match(r"apache2-bin \(>= 2\.4\.(6[3-9]|[7-9]\d)", d) for d in deps), deps

    rc, out = run(["sh", "-c", "dpkg-deb --ctrl-tarfile '%s' | tar -xOf - ./conffiles" % path])
    assert rc == 0, out
    assert sorted(out.split()) == sorted(f for f in PKG_FILES if f.startswith("/etc/")), out

    so = subprocess.run(["sh", "-c", "dpkg-deb --fsys-tarfile '%s' | tar -xOf - .%s"
                         % (path, SO_PATH)], capture_output=True, timeout=60).stdout
    assert b"\0" + changelog_version().encode() + b"\0" in so, \
        "the .so does not carry its version (HYB0109)"


def test_lintian_clean(deb):
    path, _ = deb
    rc, out = run(["lintian", "--fail-on", "error,warning", path], timeout=300)
    bad = [l for l in out.splitlines() if re.match(r"^[EW]: ", l)]
    assert rc == 0 and not bad, "lintian:\n" + out


# ---- the life cycle on this machine ----------------------------------------

class TreeBackup:
    """Everything under a directory (contents, links, modes, owners, mtimes),
    restored exactly by restore()."""

    def __init__(self, top):
        self.top = top
        self.entries = self._scan()

    def _scan(self):
        entries = {}
        for dirpath, dirnames, filenames in os.walk(self.top):
            for p in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    data = os.readlink(p)
                elif stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        data = f.read()
                else:
                    data = None
                entries[p] = (st, data)
        return entries

    @staticmethod
    def _remove(p):
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)

    def _put(self, p, st, data, now):
        cur = now.get(p)
        same_kind = cur and stat.S_IFMT(cur[0].st_mode) == stat.S_IFMT(st.st_mode)
        if same_kind and cur[1] == data:
            return
        if not (same_kind and stat.S_ISDIR(st.st_mode)):
            self._remove(p)
        if stat.S_ISDIR(st.st_mode):
            os.makedirs(p, exist_ok=True)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(data, p)
        else:
            with open(p, "wb") as f:
                f.write(data)

    def restore(self):
        now = self._scan()
        for p in sorted(set(now) - set(self.entries), key=len, reverse=True):
            self._remove(p)
        for p in sorted(self.entries, key=len):
            st, data = self.entries[p]
            self._put(p, st, data, now)
        for p in sorted(self.entries, key=len, reverse=True):
            st, _ = self.entries[p]
            os.lchown(p, st.st_uid, st.st_gid)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(p, stat.S_IMODE(st.st_mode))
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def differences(self):
        now = self._scan()
        diff = sorted(set(now) ^ set(self.entries))
        for p in set(now) & set(self.entries):
            a, b = now[p][0], self.entries[p][0]
            if (now[p][1] != self.entries[p][1] or a.st_mode != b.st_mode
                    or a.st_uid != b.st_uid or int(a.st_mtime) != int(b.st_mtime)):
                diff.append(p)
        return diff


def _pkg_status():
    rc, out = run(["dpkg-query", "-W", "-f=${db:Status-Status}", PKG])
    return out.strip() if rc == 0 else "not-installed"


class Host:
    """Debian's apache2 run by apache2ctl from the real /etc/apache2, with
    run/lock/log dirs in a temp tree (APACHE_ENVVARS), and dpkg run with a
    stub invoke-rc.d first on PATH."""

    def __init__(self):
        self.top = make_tree("hyb-e2e-pkg-")
        for d in ("run", "lock", "log", "bin", "htdocs"):
            os.makedirs(os.path.join(self.top, d), mode=0o755)
        write_file(os.path.join(self.top, "htdocs", "index.html"), "package test\n")
        self.port = free_ports(1)[0]
        self.pidfile = os.path.join(self.top, "run", "apache2.pid")
        self.error_log = os.path.join(self.top, "log", "error.log")
        self.rcd_log = os.path.join(self.top, "invoke-rc.d.log")
        self.envvars = os.path.join(self.top, "envvars")
        write_file(self.envvars, "".join("export %s=%s\n" % kv for kv in (
            ("APACHE_RUN_USER", "www-data"), ("APACHE_RUN_GROUP", "www-data"),
            ("APACHE_PID_FILE", self.pidfile), ("APACHE_RUN_DIR", self.top + "/run"),
            ("APACHE_LOCK_DIR", self.top + "/lock"), ("APACHE_LOG_DIR", self.top + "/log"),
            ("LANG", "C"))))
        write_file(os.path.join(self.top, "bin", "invoke-rc.d"),
                   '#!/bin/sh\necho "$*" >> %s\nexit 0\n' % self.rcd_log, mode=0o755)
        self.env = {"PATH": os.path.join(self.top, "bin") + ":" + PATH, "LANG": "C",
                    "APACHE_ENVVARS": self.envvars, "APACHE_STARTED_BY_SYSTEMD": "true",
                    "DEBIAN_FRONTEND": "noninteractive"}
        self.pids = set()

    def ports_conf(self):
        htdocs = os.path.join(self.top, "htdocs")
        write_file(ETC + "/ports.conf",
                   "Listen 127.0.0.1:%d\n<VirtualHost 127.0.0.1:%d>\n"
                   "  DocumentRoot %s\n"
                   "  <Directory %s>\n    Require all granted\n  </Directory>\n"
                   "</VirtualHost>\n" % (self.port, self.port, htdocs, htdocs))

    def cmd(self, *args, timeout=60):
        return run(list(args), env=self.env, cwd=self.top, timeout=timeout)

    def dpkg(self, *args):
        """dpkg, retried (bounded) while another apt/dpkg holds its lock."""
        result = []

        def attempt():
            result[:] = self.cmd("dpkg", *args, timeout=300)
            return not (result[0] == 2 and "lock" in result[1])
        wait_for(attempt, 300, interval=2)
        return tuple(result)

    def rcd_requests(self):
        try:
            return open(self.rcd_log).read()
        except OSError:
            return ""

    def start(self):
        size = os.path.getsize(self.error_log) if os.path.exists(self.error_log) else 0
        rc, out = self.cmd("apache2ctl", "start")
        pid = wait_for(self._pid, 10)
        if pid:
            self.pids.add(pid)
        assert rc == 0 and pid, "apache2ctl start failed:\n" + out
        assert wait_for(lambda: http_get(self.port, "/index.html").status == 200, 10), \
            "no 200 on 127.0.0.1:%d" % self.port
        return pid, size

    def log_since(self, size):
        with open(self.error_log) as f:
            f.seek(size)
            return f.read()

    def _pid(self):
        try:
            return int(open(self.pidfile).read().strip())
        except (OSError, ValueError):
            return None

    def _alive(self):
        return [p for p in self.pids if os.path.exists("/proc/%d" % p) and not _is_zombie(p)]

    def stop(self):
        kids = [p for p in _all_pids() if _proc_ppid(p) in self.pids]
        self.pids.update(kids)
        if self._alive():
            self.cmd("apache2ctl", "stop")
        if not wait_for(lambda: not self._alive(), 15):
            for p in self._alive():
                os.kill(p, signal.SIGKILL)
            wait_for(lambda: not self._alive(), 5)
        return not self._alive()

    @staticmethod
    def mpm_of(pid):
        with open("/proc/%d/maps" % pid) as f:
            m = re.search(r"/mod_mpm_(\w+)\.so", f.read())
        return m.group(1) if m else None


def _V_mpm(out):
    m = re.search(r"^Server MPM:\s+(\S+)\s*$", out, re.M)
    return m.group(1) if m else None


@pytest.fixture
def host():
    """The real /etc/apache2 and /var/lib/apache2, restored afterwards."""
    if _pkg_status() not in ("not-installed", ""):
        pytest.skip("%s is %s on this host; the package test would replace it"
                    % (PKG, _pkg_status()))
    if os.path.lexists(ETC + "/mods-enabled/mpm_hybrid.load"):
        pytest.skip("mpm_hybrid is the enabled MPM on this host (a source install)")
    lock = open(os.open(ETC_LOCK, os.O_RDONLY | os.O_CREAT, 0o644))
    fcntl.flock(lock, fcntl.LOCK_EX)
    trees = [TreeBackup(ETC), TreeBackup(STATE)]
    saved_so = open(SO_PATH, "rb").read() if os.path.isfile(SO_PATH) else None
    so_stat = os.stat(SO_PATH) if saved_so is not None else None
    h = Host()
    try:
        # Files of a source install would collide with the package's.
        for p in PKG_FILES:
            if os.path.lexists(p):
                os.unlink(p)
        yield h
    finally:
        stopped = h.stop()
        if _pkg_status() not in ("not-installed", ""):
            h.dpkg("--purge", PKG)
        for t in trees:
            t.restore()
        if saved_so is not None:
            write_file(SO_PATH, saved_so, mode=stat.S_IMODE(so_stat.st_mode))
            os.utime(SO_PATH, ns=(so_stat.st_atime_ns, so_stat.st_mtime_ns))
        diffs = [d for t in trees for d in t.differences()]
        shutil.rmtree(h.top, ignore_errors=True)
        lock.close()
        assert stopped, "the test's apache2 did not stop"
        assert not diffs, "not restored: %s" % diffs[:20]


def repack(deb_path, out_path, version, conf_append=""):
    """The same package with another version (and optionally another default
    mpm_hybrid.conf), as a newer release would be."""
    d = make_tree("hyb-e2e-repack-")
    try:
        rc, out = run(["dpkg-deb", "-R", deb_path, d])
        assert rc == 0, out
        ctl = os.path.join(d, "DEBIAN", "control")
        text = re.sub(r"(?m)^Version: .*$", "Version: " + version, _read(ctl))
        write_file(ctl, text)
        if conf_append:
            conf = d + "/etc/apache2/mods-available/mpm_hybrid.conf"
            write_file(conf, _read(conf) + conf_append)
            md5 = run(["md5sum", "etc/apache2/mods-available/mpm_hybrid.conf"], cwd=d)[1]
            sums = os.path.join(d, "DEBIAN", "md5sums")
            write_file(sums, re.sub(r"(?m)^\S+  etc/apache2/mods-available/mpm_hybrid\.conf\n",
                                    md5, _read(sums)))
        rc, out = run(["dpkg-deb", "--root-owner-group", "-b", d, out_path])
        assert rc == 0, out
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out_path


def _enabled(name):
    return os.path.lexists("%s/mods-enabled/%s" % (ETC, name))


def _stage_install_and_switch(h, deb_path):
    rc, out = h.cmd("a2query", "-M")
    orig_mpm = out.strip()
    assert rc == 0 and orig_mpm, out
    rc, out = h.dpkg("-i", deb_path)
    assert rc == 0, "dpkg -i failed:\n" + out
    assert _pkg_status() == "installed"
    assert not _enabled("mpm_hybrid.load"), "installing the package enabled mpm_hybrid"
    assert h.cmd("a2query", "-M")[1].strip() == orig_mpm, "installing changed the MPM"
    assert "restart" not in h.rcd_requests(), h.rcd_requests()
    so = open(SO_PATH, "rb").read()
    rc, out = make("install")
    assert rc != 0 and "%s is installed" % PKG in out, \
        "make install went ahead over the package's files:\n" + out
    assert open(SO_PATH, "rb").read() == so
    rc, out = h.cmd("a2dismod", "-q", "mpm_" + orig_mpm)
    assert rc == 0, out
    rc, out = h.cmd("a2enmod", "-q", "mpm_hybrid")
    assert rc == 0, out
    rc, out = h.cmd("apache2ctl", "-V")
    assert _V_mpm(out) == "hybrid", out


def _stage_run_hybrid(h):
    h.ports_conf()
    pid, size = h.start()
    assert Host.mpm_of(pid) == "hybrid"
    line = wait_for(lambda: re.search(r"HYB0109: mpm_hybrid (\S+)", h.log_since(size)), 5)
    assert line and line.group(1) == changelog_version(), h.log_since(size)


def _stage_upgrade_keeps_edit(h, deb_path):
    conf = ETC + "/mods-available/mpm_hybrid.conf"
    edited = _read(conf).replace("MaxRequestWorkers        150", "MaxRequestWorkers        400")
    assert "400" in edited
    write_file(conf, edited)
    v = changelog_version()
    # A newer version with the same default conf: no question, the edit stays.
    rc, out = h.dpkg("-i", repack(deb_path, h.top + "/new1.deb", v + "+e2e1"))
    assert rc == 0, out
    assert deb_field(h.top + "/new1.deb", "Version") == v + "+e2e1"
    assert _read(conf) == edited, "the upgrade overwrote the edited conffile:\n" + out
    # The enabled MPM's module was replaced: a restart (not a reload) is asked for.
    assert h.rcd_requests().strip() == "apache2 restart", repr(h.rcd_requests())
    os.unlink(h.rcd_log)
    # A newer default conf too: dpkg would ask; --force-confold keeps the edit.
    rc, out = h.dpkg("--force-confold", "-i",
                     repack(deb_path, h.top + "/new2.deb", v + "+e2e2", "# e2e\n"))
    assert rc == 0, out
    assert _read(conf) == edited, out
    assert _read(conf + ".dpkg-dist").endswith("# e2e\n"), out
    assert _enabled("mpm_hybrid.load"), "the upgrade disabled mpm_hybrid"
    rc, out = h.cmd("apache2ctl", "-t")
    assert rc == 0, out


def _stage_remove_while_enabled(h):
    rc, out = h.dpkg("-r", PKG)
    assert rc == 0, "dpkg -r failed:\n" + out
    assert "enabled mpm_event instead" in out, out
    assert _enabled("mpm_event.load") and not _enabled("mpm_hybrid.load"), out
    assert "apache2 restart" in h.rcd_requests(), \
        "removal did not restart apache2: %r\n%s" % (h.rcd_requests(), out)
    assert not os.path.exists(SO_PATH)
    rc, out = h.cmd("apache2ctl", "-V")
    assert _V_mpm(out) == "event", out
    # What the restart does: the server comes back with mpm_event.
    assert h.stop(), "apache2 did not stop"
    pid, _ = h.start()
    assert Host.mpm_of(pid) == "event"
    assert h.stop()


def _stage_purge(h):
    rc, out = h.dpkg("--purge", PKG)
    assert rc == 0, "dpkg --purge failed:\n" + out
    assert _pkg_status() in ("not-installed", ""), _pkg_status()
    left = [p for p in os.listdir(ETC + "/mods-available") if p.startswith("mpm_hybrid")]
    assert not left and not os.path.exists(SO_PATH), left
    for p in PKG_FILES:
        rc, out = run(["dpkg", "-S", p])
        assert rc != 0, "dpkg -S still knows %s: %s" % (p, out)
    markers = [os.path.join(d, f) for d, _, fs in os.walk(STATE) for f in fs
               if f == "mpm_hybrid"]
    assert not markers, markers


@needs_root
@pytest.mark.slow
def test_package_life_cycle(deb, host):
    deb_path, _ = deb
    _stage_install_and_switch(host, deb_path)
    _stage_run_hybrid(host)
    _stage_upgrade_keeps_edit(host, deb_path)
    _stage_remove_while_enabled(host)
    _stage_purge(host)
