#!/usr/bin/env bash
# install-deps.sh - make sure the Debian packages needed to build, run and
# test mod_mpm_hybrid are installed.
#
# Quick and silent apart from one line when everything is present (a single
# dpkg-query).  Otherwise, as root: apt-get update, then apt-get install of
# the missing packages only.  Not root: print the command to run, and fail.
set -euo pipefail

packages=(
    apache2 apache2-dev          # the server, apxs and httpd's headers
    libapr1-dev libaprutil1-dev  # APR headers (apache2-dev pulls them too)
    libevent-dev                 # libevent_core, libevent_pthreads
    libcmocka-dev                # unit tests
    clang libclang-rt-14-dev     # fuzz test (libFuzzer; only a Recommends of clang)
    python3-pytest curl wrk      # end-to-end tests
    openssl                      # certificates for the TLS tests
    php-fpm                      # the PHP-FPM (mod_proxy_fcgi) tests
    nghttp2-client               # h2load for the HTTP/2 load test
    python3-websockets           # echo backend for the WebSocket test
    pkg-config make gcc libc6-dev  # libc6-dev is only a Recommends of gcc
)

# Packages whose status is not "ii" (installed, configured).
missing=()
status=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null || true)
for p in "${packages[@]}"; do
    if ! grep -Eq "^$p ii" <<<"$status"; then
        missing+=("$p")
    fi
done

if (( ${#missing[@]} == 0 )); then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if (( EUID != 0 )); then
    echo "install-deps: not root; run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

# Check again: a package held back or failing to configure must not pass.
status=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${missing[@]}" 2>/dev/null || true)
for p in "${missing[@]}"; do
    if ! grep -Eq "^$p ii" <<<"$status"; then
        echo "install-deps: $p is still not installed" >&2
        exit 1
    fi
done
echo "install-deps: installed ${missing[*]}"
