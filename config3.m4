dnl config3.m4 - in-tree build of the hybrid MPM (server/mpm/hybrid/).
dnl
dnl Runs after server/mpm/config2.m4 has turned --with-mpm and
dnl --enable-mpms-shared into the list of enabled MPMs.  Builds
dnl mod_mpm_hybrid.la (shared) or libhybrid.la (static, linked into httpd).
dnl
dnl httpd 2.4 has no per-directory macros for MPMs (no APACHE_MPMPATH_*):
dnl APACHE_MPM_MODULE alone writes server/mpm/hybrid/modules.mk, with the
dnl link rule and nothing else.  Its fourth argument runs after that, only
dnl when the MPM is enabled; there this file checks for libevent and appends
dnl to modules.mk the MOD_* settings that build/rules.mk applies to this
dnl directory only.

dnl One object per entry of HYB_SOURCES in sources.mk, on one line;
dnl `make check-sources` fails when the two lists differ.
hyb_objects="mod_mpm_hybrid.lo directives.lo parent.lo child.lo listener.lo worker.lo gather.lo status.lo scoreboard.lo fdqueue.lo tqueue.lo inbox.lo limits.lo headscan.lo headtime.lo iptab.lo handoff.lo fdbudget.lo admit.lo sock.lo timers.lo accept.lo lgather.lo stats.lo metrics.lo cpuaff.lo lsnap.lo ltable.lo"

dnl Always substituted (as the event MPM does), so build/config_vars.mk
dnl defines it even when hybrid is not built.  For a static hybrid,
dnl APACHE_MPM_MODULE adds $(MOD_MPM_HYBRID_LDADD) to httpd's own link.
MOD_MPM_HYBRID_LDADD=""
APACHE_SUBST(MOD_MPM_HYBRID_LDADD)

dnl name, shared-or-not, objects, code run when enabled, path, libraries
APACHE_MPM_MODULE(hybrid, $enable_mpm_hybrid, $hyb_objects, [
    hyb_pkg_config=${PKGCONFIG:-pkg-config}
    AC_MSG_CHECKING([for libevent_core >= 2.1 and libevent_pthreads (hybrid MPM)])
    if $hyb_pkg_config --exists 'libevent_core >= 2.1' libevent_pthreads 2>/dev/null &&
       hyb_ev_libs=`$hyb_pkg_config --libs libevent_core libevent_pthreads 2>/dev/null` &&
       hyb_ev_cflags=`$hyb_pkg_config --cflags libevent_core libevent_pthreads 2>/dev/null`; then
        AC_MSG_RESULT([$hyb_ev_libs])
    else
        AC_MSG_RESULT([no])
        AC_MSG_ERROR([the hybrid MPM needs libevent >= 2.1 (libevent_core, libevent_pthreads) known to $hyb_pkg_config])
    fi
    MOD_MPM_HYBRID_LDADD="$hyb_ev_libs"
    echo "MOD_CFLAGS = $hyb_ev_cflags" >> $mpmpath/modules.mk
    if test "$enable_mpm_hybrid" = "shared"; then
        dnl Export nothing but mpm_hybrid_module from the DSO.  Not for
        dnl the static library: MOD_LINK uses MOD_LDFLAGS too.
        echo 'MOD_LDFLAGS = -Wl,--version-script=$(srcdir)/exports.map' >> $mpmpath/modules.mk
    fi
], , [\$(MOD_MPM_HYBRID_LDADD)])
