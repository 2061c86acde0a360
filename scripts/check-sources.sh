#!/usr/bin/env bash
# check-sources.sh - fail when the in-tree build files drift from sources.mk.
#
# Usage: scripts/check-sources.sh [REPO_ROOT]
#
# sources.mk (HYB_SOURCES, HYB_HEADERS) is the one list of module files.
# The in-tree build cannot include it, so two files repeat it:
#   config3.m4  the .lo objects given to APACHE_MPM_MODULE
#   Makefile.in hyb_objects (.lo) and hyb_headers (.h)
# This script checks that all three agree, that Makefile.apxs includes
# sources.mk, and that every top-level .c/.h file is listed.
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

fail=0
err() { echo "check-sources: FAIL: $*" >&2; fail=1; }
warn() { echo "check-sources: warning: $*" >&2; }

for f in sources.mk config3.m4 Makefile.in Makefile.apxs; do
    [[ -f $f ]] || { echo "check-sources: FAIL: $root/$f is missing" >&2; exit 1; }
done

# Value of a variable of a makefile, as make itself expands it.
make_var() {  # file var
    printf 'include %s\n.PHONY: hyb-print\nhyb-print:\n\t@echo $(%s)\n' "$1" "$2" |
        make --no-print-directory -s -f - hyb-print
}

# Words, one a line, sorted.
sorted() { tr -s ' \t' '\n\n' | sed '/^$/d' | sort; }

# Report duplicates and differences between two lists.
compare() {  # what expected-words actual-words
    local what=$1 expected actual dups missing extra
    expected=$(printf '%s\n' "$2" | sorted)
    actual=$(printf '%s\n' "$3" | sorted)
    dups=$(printf '%s\n' "$actual" | uniq -d)
    [[ -z $dups ]] || err "$what lists twice: $(echo $dups)"
    missing=$(comm -23 <(printf '%s\n' "$expected" | sort -u) <(printf '%s\n' "$actual" | sort -u))
    extra=$(comm -13 <(printf '%s\n' "$expected" | sort -u) <(printf '%s\n' "$actual" | sort -u))
    [[ -z $missing ]] || err "$what lacks (listed in sources.mk): $(echo $missing)"
    [[ -z $extra ]] || err "$what has (not in sources.mk): $(echo $extra)"
    return 0
}

sources=$(make_var sources.mk HYB_SOURCES)
headers=$(make_var sources.mk HYB_HEADERS)
[[ -n $sources ]] || err "sources.mk: HYB_SOURCES is empty"
[[ -n $headers ]] || err "sources.mk: HYB_HEADERS is empty"
for s in $sources; do
    [[ $s == *.c && $s != */* ]] || err "sources.mk: '$s' in HYB_SOURCES is not a top-level .c file"
done
for h in $headers; do
    [[ $h == *.h && $h != */* ]] || err "sources.mk: '$h' in HYB_HEADERS is not a top-level .h file"
done
objects=$(for s in $sources; do echo "${s%.c}.lo"; done)

# config3.m4: every *.lo word outside dnl/# comment lines.
m4_objects=$(grep -Ev '^[[:space:]]*(dnl|#)' config3.m4 | grep -Eo '[A-Za-z0-9_./-]+\.lo' || true)
[[ -n $m4_objects ]] || err "config3.m4: no .lo object list found"
compare "config3.m4 (object list)" "$objects" "$m4_objects"

# Makefile.in: must pull in httpd's special.mk and repeat both lists.
grep -Eq '^include[[:space:]]+\$\(top_srcdir\)/build/special\.mk' Makefile.in ||
    err "Makefile.in: does not 'include \$(top_srcdir)/build/special.mk'"
in_objects=$(sed -n 's/^hyb_objects[[:space:]]*=//p' Makefile.in)
in_headers=$(sed -n 's/^hyb_headers[[:space:]]*=//p' Makefile.in)
[[ -n $in_objects ]] || err "Makefile.in: no 'hyb_objects = ...' line (one line, no continuation)"
[[ -n $in_headers ]] || err "Makefile.in: no 'hyb_headers = ...' line (one line, no continuation)"
compare "Makefile.in hyb_objects" "$objects" "$in_objects"
compare "Makefile.in hyb_headers" "$headers" "$in_headers"

grep -Eq '^[[:space:]]*-?include[[:space:]]+sources\.mk[[:space:]]*$' Makefile.apxs ||
    err "Makefile.apxs: does not 'include sources.mk'"

# Files in the top level that the lists forget.
shopt -s nullglob
for f in *.c; do
    [[ " $(echo $sources) " == *" $f "* ]] || err "$f is in the top level but not in HYB_SOURCES (sources.mk)"
done
for f in *.h; do
    [[ " $(echo $headers) " == *" $f "* ]] || err "$f is in the top level but not in HYB_HEADERS (sources.mk)"
done
for f in $sources $headers; do
    [[ -f $f ]] || warn "$f is listed in sources.mk but does not exist yet"
done

# httpd's in-tree build compiles with -I. (configure adds it to INCLUDES), so
# a private header named like a standard one shadows it: <limits.h> included
# by apr.h would find a ./limits.h.  So such names are refused.
for h in $headers; do
    case $h in
    assert.h|ctype.h|errno.h|float.h|limits.h|locale.h|math.h|setjmp.h|signal.h|\
    stdarg.h|stddef.h|stdint.h|stdio.h|stdlib.h|string.h|time.h|unistd.h|fcntl.h|\
    poll.h|pthread.h|sched.h|syslog.h|inttypes.h|stdbool.h|stdatomic.h|netdb.h)
        err "$h has the name of a standard header; the in-tree build (-I.) would pick it for <$h>"
        ;;
    esac
done

if (( fail )); then
    echo "check-sources: sources.mk, config3.m4 and Makefile.in disagree (see above); update them together" >&2
    exit 1
fi
echo "check-sources: OK: config3.m4 and Makefile.in match sources.mk ($(echo $sources | wc -w) sources, $(echo $headers | wc -w) headers)"
