dnl config.m4 - platform check for the hybrid MPM (in-tree build).
dnl
dnl httpd's build/config-stubs runs every server/mpm/*/config.m4 before
dnl server/mpm/config2.m4 picks the MPMs, so all this file may do is state
dnl whether "hybrid" can be built here.  The variables it tests are set by
dnl server/mpm/config.m4.  Building happens in config3.m4.

AC_MSG_CHECKING([whether the hybrid MPM can be built on this platform])
hyb_pkg_config=${PKGCONFIG:-pkg-config}
case $host in
    *-linux-*) hyb_is_linux=yes ;;
    *)         hyb_is_linux=no ;;
esac
if test "$forking_mpms_supported" != "yes"; then
    AC_MSG_RESULT([no (processes cannot be forked here)])
elif test "$ac_cv_define_APR_HAS_THREADS" != "yes"; then
    AC_MSG_RESULT([no (APR was built without threads)])
elif test "$have_threaded_sig_graceful" != "yes"; then
    AC_MSG_RESULT([no (graceful-restart signal unusable with threads)])
elif test "$hyb_is_linux" != "yes"; then
    AC_MSG_RESULT([no (needs Linux: eventfd)])
elif $hyb_pkg_config --exists 'libevent_core >= 2.1' libevent_pthreads 2>/dev/null; then
    AC_MSG_RESULT([yes])
    dnl name, can be built shared, is threaded
    APACHE_MPM_SUPPORTED(hybrid, yes, yes)
else
    AC_MSG_RESULT([no ($hyb_pkg_config finds no libevent_core >= 2.1 and libevent_pthreads)])
fi
