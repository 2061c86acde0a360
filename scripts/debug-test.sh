#!/usr/bin/env bash
# debug-test.sh - the debug build (-DAP_DEBUG): AP_DEBUG_ASSERT and
# HYB_ASSERT check the ownership invariants (hyb_assert.h).
#
# Usage: scripts/debug-test.sh [REPO_ROOT]
#
# Builds the module with -DAP_DEBUG into build-debug/, runs the unit tests
# built the same way (tests/unit, DEBUG=1), then a short e2e subset against
# the debug module: the paths that move connections between the listener
# and the workers (accept, keep-alive, gathering, handoff between children,
# timed callbacks).  A failed assertion aborts the child, which the e2e
# harness reports as an "exit signal" line in the error log.
# Environment: E2E_DEBUG_TESTS overrides the subset (pytest arguments);
# PYTHON the interpreter with pytest (default /usr/bin/python3).
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

make --no-print-directory -f Makefile.apxs BUILDDIR=build-debug \
    HYB_EXTRA_CFLAGS=-DAP_DEBUG
make --no-print-directory -C tests/unit run DEBUG=1

subset=${E2E_DEBUG_TESTS:-"tests/e2e/test_basic.py tests/e2e/test_keepalive.py \
tests/e2e/test_gather.py tests/e2e/test_accept_spread.py \
tests/e2e/test_timed_callbacks.py"}
# shellcheck disable=SC2086
HYB_SO="$root/build-debug/mod_mpm_hybrid.so" "${PYTHON:-/usr/bin/python3}" -m pytest -q $subset
