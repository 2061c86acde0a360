#!/usr/bin/env bash
# check-exports.sh - fail unless mod_mpm_hybrid.so exports exactly the module
# structure.
#
# Usage: scripts/check-exports.sh [path/to/mod_mpm_hybrid.so]
#
# httpd resolves the LoadModule symbol (mpm_hybrid_module) with dlsym();
# every other exported symbol could clash with httpd, libevent or another
# module.  exports.map (a linker version script) is what keeps them local.
set -euo pipefail

so=${1:-build/mod_mpm_hybrid.so}
want=mpm_hybrid_module
# Symbols a toolchain may export on its own; harmless, so tolerated.
tolerated=' _init _fini _edata _end __bss_start '

if [[ ! -f $so ]]; then
    echo "check-exports: $so does not exist (run 'make build' first)" >&2
    exit 1
fi

# nm -D --defined-only prints "VALUE TYPE NAME" (NAME may carry @VERSION).
mapfile -t syms < <(nm -D --defined-only "$so" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u)

found=no
extra=()
for s in "${syms[@]}"; do
    if [[ $s == "$want" ]]; then
        found=yes
    elif [[ $tolerated != *" $s "* ]]; then
        extra+=("$s")
    fi
done

status=0
if [[ $found != yes ]]; then
    echo "check-exports: FAIL: $so does not export $want (LoadModule would fail with \"Can't locate API module structure\")" >&2
    status=1
fi
if (( ${#extra[@]} )); then
    echo "check-exports: FAIL: $so exports ${#extra[@]} symbol(s) besides $want:" >&2
    printf '  %s\n' "${extra[@]}" >&2
    echo "check-exports: make them static, or check that exports.map is passed to the linker" >&2
    status=1
fi
if (( status == 0 )); then
    echo "check-exports: OK: $so exports only $want"
fi
exit $status
