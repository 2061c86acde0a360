#!/usr/bin/env bash
# install.sh - `make install` and `make uninstall`: mod_mpm_hybrid from source.
#
#   scripts/install.sh install|uninstall
#
# Environment (the Makefile sets it): SO (the built module), LIBEXECDIR
# (apxs -q LIBEXECDIR), APACHE_CONFDIR (/etc/apache2), DESTDIR (staging root,
# may be empty).
#
# install copies the module and conf/mpm_hybrid.{load,conf}; it enables
# nothing.  A configuration file that exists and differs from this
# version's (an admin's edit) is kept; the new default goes beside it as
# NAME.new.  uninstall refuses while mpm_hybrid is enabled, removes the
# module, the .load and the .new files, and the .conf unless it was edited.
# Both refuse when the Debian package libapache2-mpm-hybrid owns the files.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${SO:?}" "${LIBEXECDIR:?}" "${APACHE_CONFDIR:?}"
DESTDIR=${DESTDIR:-}
moddir=$DESTDIR$LIBEXECDIR
availdir=$DESTDIR$APACHE_CONFDIR/mods-available
enabled=$DESTDIR$APACHE_CONFDIR/mods-enabled/mpm_hybrid.load
pkg=libapache2-mpm-hybrid
switch_hint="service apache2 restart   (or: systemctl restart apache2)"

say() { echo "make $action: $*"; }
die() { echo "make $action: $*" >&2; exit 1; }

# The real system only (no DESTDIR): is the Debian package there?
refuse_if_packaged() {
    local st
    [[ -z $DESTDIR ]] || return 0
    st=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) || return 0
    case "$st" in
    ""|not-installed) return 0 ;;
    config-files)
        die "the package $pkg was removed but its configuration files remain; purge them first: apt purge $pkg" ;;
    *)
        die "the package $pkg is installed and owns these files; use apt (apt install ./build/deb/${pkg}_*.deb to upgrade, apt remove $pkg) instead of make $action" ;;
    esac
}

# Install $1 as $2 unless $2 exists with other contents (then as $2.new).
install_conf() {
    local src=$1 dst=$2
    if [[ ! -e $dst ]]; then
        install -m 644 "$src" "$dst"
        say "installed $dst"
    elif cmp -s "$src" "$dst"; then
        rm -f "$dst.new"
        say "$dst is up to date"
    else
        install -m 644 "$src" "$dst.new"
        say "kept $dst (it differs from this version's: your edits?);"
        say "  the new default is $dst.new; compare: diff -u $dst $dst.new"
    fi
}

do_install() {
    refuse_if_packaged
    install -d "$moddir" "$availdir"
    install -m 644 "$SO" "$moddir/mod_mpm_hybrid.so"
    say "installed $moddir/mod_mpm_hybrid.so"
    install_conf "$top/conf/mpm_hybrid.load" "$availdir/mpm_hybrid.load"
    install_conf "$top/conf/mpm_hybrid.conf" "$availdir/mpm_hybrid.conf"
    [[ -z $DESTDIR ]] || return 0
    if [[ -e $enabled ]]; then
        say "mpm_hybrid is the enabled MPM: load the new build with a restart,"
        say "  not a reload (the running server holds the old build's state): $switch_hint"
    else
        say "nothing was enabled.  To switch MPM:"
        say "  a2dismod mpm_event && a2enmod mpm_hybrid && $switch_hint"
    fi
}

# Remove $1 if it is what install put there; keep an edited one.
remove_conf() {
    local dst=$1 shipped=$2
    rm -f "$dst.new"
    [[ -e $dst ]] || return 0
    if cmp -s "$shipped" "$dst"; then
        rm -f "$dst"
        say "removed $dst"
    else
        say "kept $dst: it differs from this version's (your edits?); delete it by hand if you no longer need it"
    fi
}

do_uninstall() {
    if [[ -e $enabled || -L $enabled ]]; then
        die "mpm_hybrid is the enabled MPM ($enabled); switch back first:
  a2dismod mpm_hybrid && a2enmod mpm_event && $switch_hint
then run make uninstall again"
    fi
    refuse_if_packaged
    if [[ -e $moddir/mod_mpm_hybrid.so ]]; then
        rm -f "$moddir/mod_mpm_hybrid.so"
        say "removed $moddir/mod_mpm_hybrid.so"
    fi
    rm -f "$availdir/mpm_hybrid.load.new"
    if [[ -e $availdir/mpm_hybrid.load ]]; then
        rm -f "$availdir/mpm_hybrid.load"
        say "removed $availdir/mpm_hybrid.load"
    fi
    remove_conf "$availdir/mpm_hybrid.conf" "$top/conf/mpm_hybrid.conf"
}

action=${1:-}
case "$action" in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
