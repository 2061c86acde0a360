"""Debian packaging integration: a2enmod/a2dismod/a2query/apache2ctl.

Everything runs against a COPY of /etc/apache2 selected with APACHE_CONFDIR;
the copy's envvars points run/lock/log dirs into the temp tree, and
APACHE_STATE_DIRECTORY keeps a2enmod's state markers out of /var/lib/apache2.
How the scripts find the config:
  * a2enmod/a2dismod: $APACHE_CONFDIR (else /etc/apache2), envvars from
    $APACHE_ENVVARS or $APACHE_CONFDIR/envvars, markers in
    $APACHE_STATE_DIRECTORY (else /var/lib/apache2); cgi->cgid decision runs
    /usr/sbin/apache2ctl -V, which inherits APACHE_CONFDIR.
  * apache2ctl: sources $APACHE_CONFDIR/envvars and adds `-d $APACHE_CONFDIR`.
    `start` would go through systemctl when PID 1 is systemd, unless
    APACHE_STARTED_BY_SYSTEMD is set (we set it).
  * a2query -M: parses `apache2ctl -V` (so follows APACHE_CONFDIR); it only
    *reads* /etc/apache2/mods-enabled (hard-coded) for its module list.
/etc/apache2 is snapshotted before and compared after each test.
"""

import fcntl
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (MPM, MPM_MODULE, MPM_NAME, MPM_SO, REPO, _all_pids, _is_zombie,
                      _proc_ppid, free_ports, http_get, make_tree, server_status_auto,
                      wait_for, write_file)

ETC = "/etc/apache2"
REPO_LOAD = os.path.join(REPO, "conf", "mpm_hybrid.load")
REPO_CONF = os.path.join(REPO, "conf", "mpm_hybrid.conf")
FALLBACK_LOAD = ("# Conflicts: mpm_event mpm_worker mpm_prefork\n"
                 "LoadModule mpm_hybrid_module /usr/lib/apache2/modules/mod_mpm_hybrid.so\n")

hybrid_only = pytest.mark.skipif(MPM != "hybrid", reason="hybrid packaging (MPM=event run)")


def _snapshot(path):
    snap = []
    for dirpath, dirnames, filenames in os.walk(path):
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            target = os.readlink(p) if os.path.islink(p) else None
            snap.append((p, st.st_mode, st.st_size, int(st.st_mtime), target))
    return sorted(snap)


def get_conflicts(load_path, kind="Conflicts"):
    """Parse like a2enmod's get_deps(): header comments only."""
    with open(load_path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^# %s:\s+(.*?)\s*$" % kind, line)
            if m:
                return m.group(1).split()
            if not re.match(r"^\s*(?:#.*)?$", line):
                break
    return []


class ConfCopy:
    def __init__(self):
        self.top = make_tree("hyb-e2e-debian-")
        self.confdir = os.path.join(self.top, "apache2")
        shutil.copytree(ETC, self.confdir, symlinks=True)
        for d in ("run", "lock", "log", "state"):
            os.makedirs(os.path.join(self.top, d), mode=0o755)
        self.port = free_ports(1)[0]
        write_file(os.path.join(self.confdir, "envvars"), "\n".join([
            "unset HOME",
            "export APACHE_RUN_USER=www-data",
            "export APACHE_RUN_GROUP=www-data",
            "export APACHE_PID_FILE=%s/run/apache2.pid" % self.top,
            "export APACHE_RUN_DIR=%s/run" % self.top,
            "export APACHE_LOCK_DIR=%s/lock" % self.top,
            "export APACHE_LOG_DIR=%s/log" % self.top,
            "export LANG=C",
            ""]))
        # Loopback only, on a free port.
        write_file(os.path.join(self.confdir, "ports.conf"),
                   "Listen 127.0.0.1:%d\nServerName localhost\n" % self.port)
        site = os.path.join(self.confdir, "sites-available", "000-default.conf")
        with open(site) as f:
            text = f.read()
        write_file(site, text.replace("*:80", "127.0.0.1:%d" % self.port))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("APACHE")}
        self.env.update({
            "APACHE_CONFDIR": self.confdir,
            "APACHE_STATE_DIRECTORY": os.path.join(self.top, "state"),
            "APACHE_STARTED_BY_SYSTEMD": "true",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C",
        })
        self.pidfile = os.path.join(self.top, "run", "apache2.pid")
        self.daemon_pids = set()

    def avail(self, name):
        return os.path.join(self.confdir, "mods-available", name)

    def enabled(self, name):
        return os.path.lexists(os.path.join(self.confdir, "mods-enabled", name))

    def install_hybrid(self):
        src = REPO_LOAD if os.path.isfile(REPO_LOAD) else None
        text = open(src).read() if src else FALLBACK_LOAD
        text, n = re.subn(r"(?m)^(\s*LoadModule\s+mpm_hybrid_module\s+)\S+", r"\g<1>" + MPM_SO,
                          text)
        assert n == 1, "no LoadModule mpm_hybrid_module line in %s" % (src or "fallback")
        write_file(self.avail("mpm_hybrid.load"), text)
        if os.path.isfile(REPO_CONF):
            shutil.copy(REPO_CONF, self.avail("mpm_hybrid.conf"))
        return src

    def run(self, *cmd, timeout=60):
        p = subprocess.run(list(cmd), capture_output=True, text=True, env=self.env,
                           timeout=timeout, cwd=self.top, stdin=subprocess.DEVNULL)
        return p.returncode, (p.stdout or "") + (p.stderr or "")

    def switch_to_mpm(self):
        """Enable the MPM under test in the copy (no-op for event)."""
        if MPM_NAME == "event":
            return
        self.install_hybrid()
        rc, out = self.run("a2dismod", "-q", "mpm_event")
        assert rc == 0, out
        rc, out = self.run("a2enmod", "-q", "mpm_hybrid")
        assert rc == 0, out
        assert self.enabled("mpm_hybrid.load")

    def daemon_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def kill_leftovers(self):
        """Last resort: SIGKILL the recorded daemon pid and its children."""
        for pid in list(self.daemon_pids):
            if not os.path.exists("/proc/%d" % pid) or _is_zombie(pid):
                continue
            kids = [p for p in _all_pids() if _proc_ppid(p) == pid]
            for p in [pid] + kids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def cleanup(self):
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def confcopy():
    # test_package.py changes the real /etc/apache2 under the same lock.
    with open(os.open("/tmp/hyb-e2e-etc-apache2.lock", os.O_RDONLY | os.O_CREAT, 0o644)) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = _snapshot(ETC)
        cc = ConfCopy()
        yield cc
        cc.kill_leftovers()
        cc.cleanup()
        assert _snapshot(ETC) == before, "/etc/apache2 was modified!"


def _V_mpm(out):
    m = re.search(r"^Server MPM:\s+(\S+)\s*$", out, re.M)
    return m.group(1) if m else None


# ---------------------------------------------------------------------------

@hybrid_only
def test_shipped_load_file():
    assert os.path.isfile(REPO_LOAD), "conf/mpm_hybrid.load is not shipped"
    text = open(REPO_LOAD).read()
    assert re.search(r"(?m)^\s*LoadModule\s+mpm_hybrid_module\s+\S+mod_mpm_hybrid\.so\s*$",
                     text), text
    conflicts = get_conflicts(REPO_LOAD)
    for other in ("mpm_event", "mpm_worker", "mpm_prefork"):
        assert other in conflicts, "%s missing from '# Conflicts:' header: %s" % (
            other, conflicts)


@hybrid_only
def test_a2enmod_refuses_hybrid_while_event_enabled(confcopy):
    confcopy.install_hybrid()
    assert confcopy.enabled("mpm_event.load")
    rc, out = confcopy.run("a2enmod", "-q", "mpm_hybrid")
    assert rc != 0, "a2enmod enabled mpm_hybrid next to mpm_event:\n" + out
    assert "cannot proceed due to conflicts" in out, out
    assert not confcopy.enabled("mpm_hybrid.load")


def test_switch_mpm_and_query(confcopy):
    confcopy.switch_to_mpm()
    if MPM_NAME == "hybrid":
        assert not confcopy.enabled("mpm_event.load")
    rc, out = confcopy.run("apache2ctl", "-V")
    assert rc == 0, out
    assert _V_mpm(out) == MPM_NAME, out
    assert re.search(r"threaded:\s+yes \(fixed thread count\)", out), out
    assert re.search(r"forked:\s+yes \(variable process count\)", out), out
    rc, out = confcopy.run("a2query", "-M")
    assert rc == 0, out
    assert out.strip() == MPM_NAME, out
    rc, out = confcopy.run("apache2ctl", "-t", "-M")
    assert rc == 0, out
    assert re.search(r"^\s*%s \(shared\)" % MPM_MODULE, out, re.M), out


def test_a2enmod_cgi_selects_cgid(confcopy):
    confcopy.switch_to_mpm()
    rc, out = confcopy.run("a2enmod", "cgi")
    assert rc == 0, out
    assert "Selecting cgid instead of cgi" in out, out
    assert confcopy.enabled("cgid.load") and not confcopy.enabled("cgi.load")
    rc, out = confcopy.run("apache2ctl", "-t")
    assert rc == 0, out


OTHER_MPMS = [m for m in ("mpm_prefork", "mpm_worker", "mpm_event") if m != "mpm_" + MPM_NAME]


@pytest.mark.parametrize("other", OTHER_MPMS)
def test_a2enmod_other_mpm_while_mpm_enabled(confcopy, other):
    """Whatever a2enmod does, the result must not be a silently broken config.

    a2enmod only reads the Conflicts header of the module being *enabled*;
    Debian's stock mpm_{prefork,worker,event}.load list only each other, so
    enabling one of them next to mpm_hybrid succeeds unless the packaging
    patches their Conflicts lines.  Then `apache2ctl -t` must catch it."""
    confcopy.switch_to_mpm()
    mine = "mpm_%s" % MPM_NAME
    their_conflicts = get_conflicts(confcopy.avail("%s.load" % other))
    rc, out = confcopy.run("a2enmod", "-q", other)
    if mine in their_conflicts:
        assert rc != 0, out
        assert "cannot proceed due to conflicts" in out, out
        assert not confcopy.enabled("%s.load" % other)
        assert confcopy.enabled("%s.load" % mine)
    else:
        assert rc == 0, out
        assert confcopy.enabled("%s.load" % other)
        rc, out = confcopy.run("apache2ctl", "-t")
        assert rc != 0, out
        assert "More than one MPM loaded" in out, out
        rc, out = confcopy.run("a2dismod", "-q", other)
        assert rc == 0, out
    rc, out = confcopy.run("apache2ctl", "-t")
    assert rc == 0, out


@hybrid_only
def test_switch_back_to_event(confcopy):
    confcopy.switch_to_mpm()
    rc, out = confcopy.run("a2dismod", "-q", "mpm_hybrid")
    assert rc == 0, out
    assert not confcopy.enabled("mpm_hybrid.load") and not confcopy.enabled("mpm_hybrid.conf")
    rc, out = confcopy.run("a2enmod", "-q", "mpm_event")
    assert rc == 0, out
    rc, out = confcopy.run("apache2ctl", "-V")
    assert _V_mpm(out) == "event", out
    rc, out = confcopy.run("a2query", "-M")
    assert out.strip() == "event", out


@pytest.mark.slow
def test_apache2ctl_start_graceful_stop(confcopy):
    """The daemonizing path (no -DFOREGROUND), as systemd's Type=forking uses."""
    confcopy.switch_to_mpm()
    rc, out = confcopy.run("apache2ctl", "start", timeout=30)
    pid = wait_for(confcopy.daemon_pid, 10)
    if pid:
        confcopy.daemon_pids.add(pid)
    assert rc == 0, "apache2ctl start failed:\n" + out
    assert pid, "no pidfile after apache2ctl start"
    assert _proc_ppid(pid) != os.getpid(), "server did not detach"
    st = {}
    assert wait_for(lambda: st.update(server_status_auto(confcopy.port)) or st, 10)
    assert st["ServerMPM"] == MPM_NAME, st
    gen0 = st["ParentServerMPMGeneration"]
    rc, out = confcopy.run("apache2ctl", "graceful", timeout=30)
    assert rc == 0, out

    def new_gen():
        st.clear()
        st.update(server_status_auto(confcopy.port))
        return st["ParentServerMPMGeneration"] == gen0 + 1
    assert wait_for(new_gen, 10), st
    assert confcopy.daemon_pid() == pid, "parent pid changed on graceful"
    assert http_get(confcopy.port, "/server-status?auto").status == 200
    kids = [p for p in _all_pids() if _proc_ppid(p) == pid]
    t0 = time.monotonic()
    rc, out = confcopy.run("apache2ctl", "stop", timeout=30)
    assert rc == 0, out
    gone = wait_for(lambda: all(not os.path.exists("/proc/%d" % p) or _is_zombie(p)
                                for p in [pid] + kids), 12)
    assert gone, "server still running %.1fs after apache2ctl stop" % (time.monotonic() - t0)
    assert not os.path.exists(confcopy.pidfile)
    with open(os.path.join(confcopy.top, "log", "error.log")) as f:
        log = f.read()
    assert not re.search(r":(emerg|alert|crit)\]|exit signal", log), log
