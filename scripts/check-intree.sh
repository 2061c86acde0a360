#!/usr/bin/env bash
# check-intree.sh - build the hybrid MPM inside a real httpd 2.4 source tree.
#
# Usage: scripts/check-intree.sh [options] HTTPD_SOURCE_TREE
#
#   --static     build hybrid as httpd's static MPM (--with-mpm=hybrid) instead
#                of the shared mod_mpm_hybrid.so (--enable-mpms-shared="event
#                hybrid" --with-mpm=event)
#   --run        also build and install httpd itself (into the work
#                directory), start it on a free 127.0.0.1 port with the
#                hybrid MPM, check `httpd -V` and a GET, and stop it again
#   --in-place   work in HTTPD_SOURCE_TREE itself; by default it is copied
#                into a scratch directory first and left untouched
#   --keep       keep the scratch directory (it is always kept on failure)
#   -j N         parallel make jobs (default: nproc)
#
# Environment: APR_CONFIG, APU_CONFIG (default: apr-1-config, apu-1-config,
# used when the tree has no srclib/apr), CFLAGS (default "-g -O2"), HYB_CFLAGS
# (default "-Wall -Wextra -Werror -std=gnu99", the flags of Makefile.apxs,
# added for server/mpm/hybrid only), TMPDIR.
#
# What it does, as the README's "Building inside an httpd source tree" says:
# copies sources.mk's files plus config.m4, config3.m4, Makefile.in and
# exports.map into server/mpm/hybrid/, runs ./buildconf and ./configure, and
# builds server/mpm/hybrid with HYB_CFLAGS.  Then it checks that configure
# found the MPM and that mod_mpm_hybrid.so exports only mpm_hybrid_module
# (scripts/check-exports.sh), or, with --static, that libhybrid.a defines it.
#
# Not part of `make test`: it needs an httpd source tree (e.g. Debian's,
# from `apt-get source apache2`) and takes a minute or two (--run: ~3).
set -euo pipefail

die() { echo "check-intree: FAIL: $*" >&2; exit 1; }
say() { echo "check-intree: $*"; }

repo=$(cd "$(dirname "$0")/.." && pwd)
mode=shared run=no in_place=no keep=no
jobs=$(nproc 2>/dev/null || echo 2)
tree=
while (( $# )); do
    case $1 in
    --static)   mode=static ;;
    --run)      run=yes ;;
    --in-place) in_place=yes ;;
    --keep)     keep=yes ;;
    -j)         shift; jobs=${1:?-j needs a number} ;;
    -j*)        jobs=${1#-j} ;;
    -h|--help)  sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*)         die "unknown option $1 (see --help)" ;;
    *)          [[ -z $tree ]] || die "more than one source tree given"; tree=$1 ;;
    esac
    shift
done
[[ -n $tree ]] || die "no httpd source tree given (usage: $0 [--static] [--run] TREE)"
[[ -d $tree ]] || die "$tree is not a directory"
tree=$(cd "$tree" && pwd)
for f in buildconf configure.in server/mpm/config2.m4 include/ap_release.h; do
    [[ -f $tree/$f ]] || die "$tree does not look like an httpd source tree (no $f)"
done
grep -Eq '#define AP_SERVER_MINORVERSION_NUMBER[[:space:]]+4$' "$tree/include/ap_release.h" ||
    die "$tree is not httpd 2.4 (include/ap_release.h)"
version=$(sed -n 's/^#define AP_SERVER_\(MAJORVERSION\|MINORVERSION\|PATCHLEVEL\)_NUMBER  *\([0-9]*\)$/\2/p' \
    "$tree/include/ap_release.h" | paste -sd.)

CFLAGS=${CFLAGS--g -O2}
HYB_CFLAGS=${HYB_CFLAGS--Wall -Wextra -Werror -std=gnu99}

# --- work directory ---------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/check-intree.XXXXXX")
chmod 755 "$work"   # --run: httpd's children (User nobody) read htdocs below
server_pid=
ok=no
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    fi
    if [[ $ok == yes && $keep == no ]]; then
        rm -rf "$work"
    else
        echo "check-intree: work directory kept: $work" >&2
    fi
}
trap cleanup EXIT

if [[ $in_place == yes ]]; then
    src=$tree
else
    say "copying $tree to $work/httpd"
    cp -a "$tree" "$work/httpd"
    src=$work/httpd
fi
log=$work/logs
mkdir -p "$log"

# --- the module into server/mpm/hybrid ---------------------------------------
make_var() {  # var: its value in sources.mk
    # shellcheck disable=SC2016  # $(%s) is for make, not the shell
    printf 'include %s\n.PHONY: hyb-print\nhyb-print:\n\t@echo $(%s)\n' "$repo/sources.mk" "$1" |
        make --no-print-directory -s -f - hyb-print
}
files="$(make_var HYB_SOURCES) $(make_var HYB_HEADERS) config.m4 config3.m4 Makefile.in exports.map"
hyb=$src/server/mpm/hybrid
rm -rf "$hyb"
mkdir "$hyb"
for f in $files; do cp "$repo/$f" "$hyb/" || die "cannot copy $repo/$f"; done
say "httpd $version, $mode build; copied to server/mpm/hybrid: $files"

# --- buildconf ---------------------------------------------------------------
cd "$src"
buildconf_args=()
if [[ ! -f srclib/apr/build/apr_common.m4 ]]; then
    apr_config=$(command -v "${APR_CONFIG:-apr-1-config}") ||
        die "no srclib/apr and no ${APR_CONFIG:-apr-1-config} (install libapr1-dev, or set APR_CONFIG)"
    apu_config=$(command -v "${APU_CONFIG:-apu-1-config}") ||
        die "no ${APU_CONFIG:-apu-1-config} (install libaprutil1-dev, or set APU_CONFIG)"
    buildconf_args=(--with-apr="$apr_config" --with-apr-util="$apu_config")
fi
say "./buildconf ${buildconf_args[*]@Q}"
./buildconf "${buildconf_args[@]}" >"$log/buildconf.log" 2>&1 ||
    die "./buildconf failed; see $log/buildconf.log"
grep -q 'hybrid MPM can be built' configure ||
    die "./buildconf did not pick up server/mpm/hybrid/config.m4"

# --- configure ---------------------------------------------------------------
configure_args=(--prefix="$work/inst" --enable-modules=none
                --enable-mods-shared="unixd authz_core log_config dir")
if [[ ${#buildconf_args[@]} -gt 0 ]]; then
    configure_args+=(--with-apr="$apr_config" --with-apr-util="$apu_config")
fi
if [[ $mode == shared ]]; then
    configure_args+=(--enable-mpms-shared="event hybrid" --with-mpm=event)
else
    configure_args+=(--with-mpm=hybrid)
fi
say "CFLAGS='$CFLAGS' ./configure ${configure_args[*]@Q}"
CFLAGS=$CFLAGS ./configure "${configure_args[@]}" >"$log/configure.log" 2>&1 || {
    grep -E 'hybrid|error' "$log/configure.log" | tail -5 >&2
    die "./configure failed; see $log/configure.log"
}
grep -q 'whether the hybrid MPM can be built on this platform... yes' "$log/configure.log" || {
    grep 'hybrid MPM can be built' "$log/configure.log" >&2 || true
    die "configure: the hybrid MPM is not supported here"
}
grep -E 'hybrid' "$log/configure.log" | sed 's/^/  /'
[[ -f $hyb/modules.mk && -f $hyb/Makefile ]] ||
    die "configure wrote no server/mpm/hybrid/Makefile and modules.mk"
grep -Eq "^MPM_SUBDIRS = .*\\bhybrid\\b" build/config_vars.mk ||
    die "configure did not enable the hybrid MPM (MPM_SUBDIRS in build/config_vars.mk)"

# --- make: server/mpm/hybrid with the strict flags ---------------------------
hyb_target=$([[ $mode == shared ]] && echo shared-build || echo all)
say "make -C server/mpm/hybrid $hyb_target CFLAGS='$CFLAGS $HYB_CFLAGS'"
make -C "$hyb" "$hyb_target" CFLAGS="$CFLAGS $HYB_CFLAGS" >"$log/make-hybrid.log" 2>&1 || {
    grep -E 'error|warning' "$log/make-hybrid.log" | head -20 >&2
    die "building server/mpm/hybrid failed; see $log/make-hybrid.log"
}
compiled=$(grep -c -- '--mode=compile.*-Werror' "$log/make-hybrid.log" || true)
expected=$(make_var HYB_SOURCES | wc -w)
(( compiled == expected )) ||
    die "expected $expected compiles with '$HYB_CFLAGS', saw $compiled; see $log/make-hybrid.log"
! grep -q 'warning:' "$log/make-hybrid.log" ||
    die "warnings building server/mpm/hybrid; see $log/make-hybrid.log"
say "compiled $compiled sources with '$HYB_CFLAGS', no warnings"

# --- the result ----------------------------------------------------------------
if [[ $mode == shared ]]; then
    so=$hyb/.libs/mod_mpm_hybrid.so
    [[ -f $so ]] || die "no $so"
    bash "$repo/scripts/check-exports.sh" "$so"
    if command -v readelf >/dev/null; then
        say "$(basename "$so") needs: $(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ')"
    fi
else
    a=$hyb/.libs/libhybrid.a
    [[ -f $a ]] || die "no $a"
    syms=$(nm --defined-only "$a" 2>/dev/null) || die "nm $a failed"
    grep -Eq ' [DdBbRr] mpm_hybrid_module$' <<<"$syms" ||
        die "$a does not define mpm_hybrid_module"
    say "OK: $a defines mpm_hybrid_module"
fi

if [[ $run == no ]]; then
    ok=yes
    say "OK: httpd $version, $mode hybrid MPM built in-tree"
    exit 0
fi

# --- --run: build, install and start httpd ----------------------------------------
# Debian's reproducible_builds.diff makes server/buildmark.c need
# -DBUILD_DATETIME (its debian/rules passes it); upstream trees do not.
make_args=()
if grep -q 'server_built\[\] = BUILD_DATETIME' server/buildmark.c; then
    make_args+=(CPPFLAGS="-DBUILD_DATETIME=\"\\\"$(date -u +%FT%T)\\\"\"")
fi
say "make -j$jobs ${make_args[*]@Q} && make install ${make_args[*]@Q}"
make -j"$jobs" "${make_args[@]}" >"$log/make.log" 2>&1 ||
    die "make failed; see $log/make.log"
make install "${make_args[@]}" >"$log/install.log" 2>&1 ||
    die "make install failed; see $log/install.log"
inst=$work/inst
httpd=$inst/bin/httpd
[[ -x $httpd ]] || die "no $httpd after make install"

free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local p
    for _ in $(seq 50); do
        p=$(( 20000 + RANDOM % 40000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    return 1
}
port=$(free_port) || die "found no free port on 127.0.0.1"
rd=$work/run
mkdir -p "$rd/htdocs" "$rd/logs" "$rd/rt"
chmod 755 "$rd" "$rd/htdocs"
body="hybrid in-tree $version $mode"
echo "$body" >"$rd/htdocs/index.html"
chmod 644 "$rd/htdocs/index.html"
conf=$rd/httpd.conf
{
    echo "ServerRoot \"$inst\""
    echo "ServerName 127.0.0.1"
    echo "Listen 127.0.0.1:$port"
    echo "PidFile \"$rd/httpd.pid\""
    echo "DefaultRuntimeDir \"$rd/rt\""
    echo "ErrorLog \"$rd/logs/error.log\""
    echo "LogLevel info"
    [[ $mode == static ]] || echo "LoadModule mpm_hybrid_module modules/mod_mpm_hybrid.so"
    echo "LoadModule unixd_module modules/mod_unixd.so"
    echo "LoadModule authz_core_module modules/mod_authz_core.so"
    echo "LoadModule log_config_module modules/mod_log_config.so"
    echo "LoadModule dir_module modules/mod_dir.so"
    if (( EUID == 0 )); then
        echo "User nobody"
        echo "Group $(id -gn nobody)"
    fi
    echo "Include \"$repo/conf/mpm_hybrid.conf\""
    echo "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b\" common"
    echo "CustomLog \"$rd/logs/access.log\" common"
    echo "DocumentRoot \"$rd/htdocs\""
    echo "DirectoryIndex index.html"
    echo "<Directory \"$rd/htdocs\">"
    echo "    Require all granted"
    echo "</Directory>"
} >"$conf"

"$httpd" -f "$conf" -t >"$log/httpd-t.log" 2>&1 || { cat "$log/httpd-t.log" >&2; die "httpd -t failed"; }
mpm_line=$("$httpd" -f "$conf" -V | grep '^Server MPM:' || true)
say "httpd -V: $mpm_line"
[[ $mpm_line =~ ^Server\ MPM:\ +hybrid$ ]] || die "httpd -V does not say 'Server MPM: hybrid'"

"$httpd" -f "$conf" -k start || die "httpd -k start failed; see $rd/logs/error.log"
for _ in $(seq 50); do [[ -s $rd/httpd.pid ]] && break; sleep 0.2; done
[[ -s $rd/httpd.pid ]] || die "httpd wrote no pid file; see $rd/logs/error.log"
server_pid=$(cat "$rd/httpd.pid")
say "httpd started, pid $server_pid, http://127.0.0.1:$port/"

get() {  # url: prints "STATUS BODY"
    if command -v curl >/dev/null; then
        local code
        code=$(curl -s --max-time 10 -o "$work/body" -w '%{http_code}' "$1") || true
        echo "$code $(cat "$work/body" 2>/dev/null)"
    else
        python3 - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
    print(r.status, r.read().decode().strip())
except urllib.error.HTTPError as e:
    print(e.code, "")
EOF
    fi
}
reply=
for _ in $(seq 25); do
    reply=$(get "http://127.0.0.1:$port/" || true)
    [[ $reply == "200 "* ]] && break
    sleep 0.2
done
[[ $reply == "200 $body" ]] || die "GET / answered '$reply', not '200 $body'; see $rd/logs/error.log"
for i in $(seq 20); do
    reply=$(get "http://127.0.0.1:$port/index.html?$i" || true)
    [[ $reply == "200 "* ]] || die "request $i answered '$reply'; see $rd/logs/error.log"
done
say "GET / -> 200 '$body', and 20 more requests -> 200"

kill -TERM "$server_pid"
for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
! kill -0 "$server_pid" 2>/dev/null || die "httpd (pid $server_pid) did not stop on SIGTERM"
server_pid=
say "httpd stopped"
ok=yes
say "OK: httpd $version, $mode hybrid MPM built in-tree, loaded and served requests"
