dnl config3.m4 - in-tree build of the hybrid MPM (server/mpm/hybrid/).
dnl
dnl Runs after server/mpm/config2.m4 has turned --with-mpm and
dnl --enable-mpms-shared into the list of enabled MPMs.  Builds
dnl mod_mpm_hybrid.la (shared) or libhybrid.la (static, linked into httpd).

APACHE_MPMPATH_INIT(hybrid)

dnl One object per entry of HYB_SOURCES in sources.mk, on one line;
dnl `make check-sources` fails when the two lists differ.
hyb_objects="mod_mpm_hybrid.lo parent.lo child.lo listener.lo worker.lo scoreboard.lo fdqueue.lo tqueue.lo inbox.lo limits.lo"

if ap_mpm_is_enabled hybrid; then
    hyb_pkg_config=${PKGCONFIG:-pkg-config}
    AC_MSG_CHECKING([for libevent_core and libevent_pthreads (hybrid MPM)])
    if hyb_ev_libs=`$hyb_pkg_config --libs libevent_core libevent_pthreads 2>/dev/null` &&
       hyb_ev_cflags=`$hyb_pkg_config --cflags libevent_core libevent_pthreads 2>/dev/null`; then
        AC_MSG_RESULT([$hyb_ev_libs])
    else
        AC_MSG_RESULT([no])
        AC_MSG_ERROR([the hybrid MPM needs libevent >= 2.1 (libevent_core, libevent_pthreads) known to $hyb_pkg_config])
    fi
    dnl MOD_* variables are written to this directory's modules.mk by
    dnl APACHE_MPMPATH_FINISH and used by build/rules.mk for this directory only.
    if test -n "$hyb_ev_cflags"; then
        MOD_CFLAGS="$MOD_CFLAGS $hyb_ev_cflags"
    fi
    MOD_MPM_HYBRID_LDADD="$hyb_ev_libs"
    if test "$enable_mpm_hybrid" = "shared"; then
        dnl Export nothing but mpm_hybrid_module from the DSO.
        MOD_LDFLAGS="$MOD_LDFLAGS -Wl,--version-script=\$(srcdir)/exports.map"
    fi
fi
APACHE_SUBST(MOD_MPM_HYBRID_LDADD)

dnl name, shared-or-not, objects, extra configure code, path, libraries
APACHE_MPM_MODULE(hybrid, $enable_mpm_hybrid, $hyb_objects, , , [\$(MOD_MPM_HYBRID_LDADD)])

APACHE_MPMPATH_FINISH
