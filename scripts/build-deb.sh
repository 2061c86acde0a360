#!/usr/bin/env bash
# build-deb.sh - build the Debian package libapache2-mpm-hybrid (`make deb`).
#
#   scripts/build-deb.sh [OUTDIR]      (default: build/deb)
#
# Copies the source tree (git's tracked and untracked-but-not-ignored files,
# so what a developer edited, without build/) to OUTDIR/.src.*/, installs
# the Build-Depends of debian/control (root; otherwise prints the command),
# runs `dpkg-buildpackage -us -uc -b` there and moves the .deb, .buildinfo
# and .changes to OUTDIR.  The working tree is never cleaned or written:
# dpkg-buildpackage's clean step would delete build/ under running tests.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$top/build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$top/debian/changelog")
[[ -n $version ]] || { echo "build-deb: no version in debian/changelog" >&2; exit 1; }

work=$(mktemp -d "$out/.src.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/mpm-hybrid-$version
mkdir "$src"

# The file list of a clean tree.
list_sources() {
    if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$top" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            [[ -e $top/$f ]] && printf '%s\0' "$f"   # skip deleted files
        done
    else
        (cd "$top" && find . -path ./build -prune -o -path ./.git -prune \
                         -o ! -type d -print0)
    fi
}
list_sources | tar -C "$top" --null -T - -cf - | tar -C "$src" -xf -

bash "$top/scripts/install-deps.sh" deb "$top"

echo "build-deb: dpkg-buildpackage -us -uc -b in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b)

rm -f "$out"/libapache2-mpm-hybrid*_*.deb "$out"/mpm-hybrid_*.buildinfo \
      "$out"/mpm-hybrid_*.changes
mv "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
echo "build-deb: built in $out:"
ls -1 "$out"/*.deb
