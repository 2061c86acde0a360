#!/usr/bin/env bash
# run-config.sh - generate the configuration used by `make run`.
#
# Renders conf/run.conf.in into RUN_DIR/apache2.conf, creates RUN_DIR's
# htdocs/ (with an index.html), logs/ and run/, and prints the path of the
# generated configuration as the last line on stdout.
#
# Environment (all optional):
#   PORT        port on 127.0.0.1 to listen on              (8080)
#   MPM_SO      MPM module file to load          (build/mod_mpm_hybrid.so)
#   MPM_MODULE  its module structure name            (mpm_hybrid_module)
#   RUN_DIR     where everything goes; default build/run, or
#               /tmp/hybrid-run-<id> when started as root and the user the
#               children run as could not reach build/run
#   RUN_USER, RUN_GROUP  children's user and group when root (www-data)
#   LOG_LEVEL   LogLevel                                     (info)
#   MOD_DIR     directory of Debian's modules   (apxs -q LIBEXECDIR)
set -euo pipefail

src_dir=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-8080}
mpm_so=${MPM_SO:-$src_dir/build/mod_mpm_hybrid.so}
mpm_module=${MPM_MODULE:-mpm_hybrid_module}
log_level=${LOG_LEVEL:-info}
mod_dir=${MOD_DIR:-$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)}
template=$src_dir/conf/run.conf.in

die() { echo "run-config: $*" >&2; exit 1; }

[[ $port =~ ^[0-9]+$ ]] && (( port > 0 && port < 65536 )) || die "PORT must be a TCP port number, not '$port'"
[[ $mpm_so == /* ]] || mpm_so=$src_dir/$mpm_so
[[ -f $template ]] || die "$template is missing"

if (( EUID == 0 )); then
    run_user=${RUN_USER:-www-data}
    run_group=${RUN_GROUP:-www-data}
    id "$run_user" >/dev/null 2>&1 || die "user '$run_user' does not exist (set RUN_USER)"
else
    # Not root: apache2 cannot switch users and ignores User/Group.
    run_user=${RUN_USER:-$(id -un)}
    run_group=${RUN_GROUP:-$(id -gn)}
fi

# True when every directory from / down to $1 can be entered by anyone.
reachable_by_all() {
    local d=$1 mode
    while :; do
        mode=$(stat -c %a "$d") || return 1
        (( (8#$mode & 1) != 0 )) || return 1
        [[ $d == / ]] && return 0
        d=$(dirname "$d")
    done
}

if [[ -z ${RUN_DIR:-} ]]; then
    RUN_DIR=$src_dir/build/run
    if (( EUID == 0 )) && ! reachable_by_all "$src_dir"; then
        # The children (RUN_USER) must be able to read DocumentRoot.
        RUN_DIR=/tmp/hybrid-run-$(printf '%s' "$src_dir" | cksum | cut -d' ' -f1)
    fi
fi
[[ $RUN_DIR == /* ]] || RUN_DIR=$src_dir/$RUN_DIR

mkdir -p "$RUN_DIR/htdocs" "$RUN_DIR/logs" "$RUN_DIR/run"
# A umask of 077 would leave these unreadable for the children.
chmod 755 "$RUN_DIR" "$RUN_DIR/htdocs" "$RUN_DIR/logs" "$RUN_DIR/run"
if [[ $RUN_DIR == "$src_dir/build/run" ]]; then
    chmod 755 "$src_dir/build"
fi

if [[ $mpm_module == mpm_hybrid_module ]]; then
    status_html='<p><a href="/server-status">/server-status</a> shows, from the top:</p>
<ul>
<li>the server and its load, then event'"'"'s table per process (connections,
threads, and the keep-alive, writing and closing connections);</li>
<li>the scoreboard, one cell per worker thread, and with ExtendedStatus On (set
here) a row per worker with its client and request. A client still sending its
request head holds no worker under hybrid, so it is <em>not</em> an
<code>R</code> cell here;</li>
<li>the <b>hybrid table</b>, one row per process: whether it accepts, its queue
load, its connections by state (<i>gathering</i> counts the clients still sending
their head; the columns add up to <i>total</i>), and what it accepted and
handed to its siblings;</li>
<li>the <b>connections the listeners hold</b>, no worker: state, client address,
seconds in that state and, while gathering, the bytes of head so far. At most
100 per process, slow clients first; the rest are counted.</li>
</ul>
<p><a href="/server-status?auto">/server-status?auto</a> has the same numbers
for scripts and exporters (the standard keys, then <code>ConnsAsyncGathering</code>
and the <code>Hybrid*</code> keys). <a href="/hybrid-metrics">/hybrid-metrics</a>
serves them as Prometheus metrics (<code>SetHandler hybrid-metrics</code>, loopback
only). What each column, key and metric means, and what to alert on:
<code>docs/monitoring.md</code> in the source tree.</p>'
else
    status_html='<p><a href="/server-status">/server-status</a> shows the processes, threads
and connections; <a href="/server-status?auto">/server-status?auto</a> the same
for scripts and exporters.</p>'
fi

cat > "$RUN_DIR/htdocs/index.html" <<EOF
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>mod_mpm_hybrid</title></head>
<body>
<h1>It works</h1>
<p>Served by Apache httpd with <code>$mpm_module</code> loaded from
<code>$mpm_so</code>.</p>
$status_html
</body>
</html>
EOF
chmod 644 "$RUN_DIR/htdocs/index.html"

# sed replacement text: escape \, & and the | delimiter.
esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

conf=$RUN_DIR/apache2.conf
sed -e "s|@RUN_DIR@|$(esc "$RUN_DIR")|g" \
    -e "s|@SRC_DIR@|$(esc "$src_dir")|g" \
    -e "s|@LISTEN@|127.0.0.1:$port|g" \
    -e "s|@MPM_SO@|$(esc "$mpm_so")|g" \
    -e "s|@MPM_MODULE@|$(esc "$mpm_module")|g" \
    -e "s|@MOD_DIR@|$(esc "$mod_dir")|g" \
    -e "s|@RUN_USER@|$(esc "$run_user")|g" \
    -e "s|@RUN_GROUP@|$(esc "$run_group")|g" \
    -e "s|@LOG_LEVEL@|$(esc "$log_level")|g" \
    "$template" > "$conf.tmp"
if grep -n '@[A-Z_]*@' "$conf.tmp" >&2; then
    rm -f "$conf.tmp"
    die "unreplaced placeholders in $template (listed above)"
fi
mv -f "$conf.tmp" "$conf"

[[ -f $mpm_so ]] || echo "run-config: warning: $mpm_so does not exist yet (run 'make build')" >&2
echo "$conf"
