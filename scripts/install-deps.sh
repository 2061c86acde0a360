#!/usr/bin/env bash
# install-deps.sh - make sure the Debian packages one task needs are installed.
#
#   install-deps.sh build      build the module: compiler, apxs, APR, libevent
#                              (make deps, make build, make install)
#   install-deps.sh run        build + the apache2 server (make run)
#   install-deps.sh test       run + every tool the tests use (make test-deps,
#                              make test): cmocka, clang, pytest, php-fpm,
#                              chromium, ...,
#                              and dpkg-dev/debhelper/lintian for the package test
#   install-deps.sh deb [DIR]  the Build-Depends of DIR/debian/control (default:
#                              the source tree), as dpkg-checkbuilddeps sees them
#                              (make deb)
#
# Quick and silent apart from one line when everything is present (a single
# dpkg-query).  Otherwise, as root: apt-get update, then apt-get install of
# the missing packages only.  Not root: print the command to run, and fail.
set -euo pipefail

group=${1:-build}

build_pkgs=(
    apache2-dev                  # apxs and httpd's headers
    libapr1-dev libaprutil1-dev  # APR headers (apache2-dev pulls them too)
    libevent-dev                 # libevent_core, libevent_pthreads
    pkg-config make gcc libc6-dev  # libc6-dev is only a Recommends of gcc
)
run_pkgs=(apache2)
test_pkgs=(
    libcmocka-dev                # unit tests
    clang libclang-rt-14-dev     # fuzz test (libFuzzer; only a Recommends of clang)
    python3-pytest curl wrk      # end-to-end tests
    openssl                      # certificates for the TLS tests
    php-fpm                      # the PHP-FPM (mod_proxy_fcgi) tests
    nghttp2-client               # h2load for the HTTP/2 load test
    python3-websockets           # echo backend for the WebSocket test
    chromium                     # renders /server-status (test_status_table.py)
    dpkg-dev debhelper lintian   # the package test (test_package.py)
)

# Run apt-get as root, or tell a non-root caller what to run.
apt_get() {
    if (( EUID != 0 )); then
        echo "install-deps: not root; run as root:" >&2
        echo "  apt-get update && apt-get $*" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get "$@"
}

# Packages of "$@" whose status is not "ii" (installed, configured).
not_installed() {
    local status p
    status=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null || true)
    for p in "$@"; do
        grep -Eq "^$p ii" <<<"$status" || echo "$p"
    done
}

ensure() {
    local missing
    mapfile -t missing < <(not_installed "$@")
    if (( ${#missing[@]} == 0 )); then
        echo "install-deps ($group): all $# packages present"
        return 0
    fi
    echo "install-deps ($group): missing: ${missing[*]}"
    apt_get install -y --no-install-recommends "${missing[@]}"
    # Check again: a package held back or failing to configure must not pass.
    mapfile -t missing < <(not_installed "${missing[@]}")
    if (( ${#missing[@]} )); then
        echo "install-deps: still not installed: ${missing[*]}" >&2
        exit 1
    fi
}

# Build-Depends of a debian/ source tree, installed by apt's build-dep path.
ensure_build_deps() {
    local dir out
    dir=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)
    ensure dpkg-dev make gcc libc6-dev   # dpkg-checkbuilddeps, dpkg-buildpackage
    if out=$(cd "$dir" && dpkg-checkbuilddeps 2>&1); then
        echo "install-deps (deb): build dependencies of $dir/debian/control present"
        return 0
    fi
    echo "install-deps (deb): $out"
    apt_get build-dep -y --no-install-recommends "$dir"
    (cd "$dir" && dpkg-checkbuilddeps)
}

# Tools the monitoring test runs from their unpacked .deb (dpkg-deb -x), so
# that their services are never installed or started: downloaded only, into
# apt's cache, where tests/e2e/test_monitoring.py looks for them.
download_pkgs=(prometheus prometheus-apache-exporter)

ensure_downloaded() {
    local p missing=()
    for p in "$@"; do
        compgen -G "/var/cache/apt/archives/${p}_*.deb" >/dev/null || missing+=("$p")
    done
    if (( ${#missing[@]} == 0 )); then
        return 0
    fi
    echo "install-deps ($group): downloading (not installing): ${missing[*]}"
    apt_get install -y --download-only --no-install-recommends "${missing[@]}"
}

case "$group" in
build) ensure "${build_pkgs[@]}" ;;
run)   ensure "${build_pkgs[@]}" "${run_pkgs[@]}" ;;
test)  ensure "${build_pkgs[@]}" "${run_pkgs[@]}" "${test_pkgs[@]}"
       ensure_downloaded "${download_pkgs[@]}" ;;
deb)   ensure_build_deps "${2:-}" ;;
*)     echo "usage: $0 [build|run|test|deb [DIR]]" >&2; exit 2 ;;
esac
