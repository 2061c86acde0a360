# sources.mk - the one list of mod_mpm_hybrid's source files.
#
# Makefile.apxs includes this file.  The in-tree build cannot include it, so
# config3.m4 (object list) and Makefile.in (object and header lists) repeat
# it; `make check-sources` (scripts/check-sources.sh) fails when they drift.
# Every file lives in the repository's top level.

HYB_SOURCES = mod_mpm_hybrid.c directives.c parent.c child.c listener.c worker.c gather.c \
              status.c scoreboard.c fdqueue.c tqueue.c inbox.c limits.c \
              headscan.c headtime.c iptab.c handoff.c fdbudget.c admit.c sock.c timers.c \
              accept.c lgather.c stats.c metrics.c cpuaff.c lsnap.c ltable.c

HYB_HEADERS = hyb.h fdqueue.h tqueue.h inbox.h hyb_limits.h headscan.h headtime.h iptab.h \
              handoff.h fdbudget.h admit.h hyb_assert.h sock.h timers.h listener.h conn.h \
              stats.h metrics.h cpuaff.h lsnap.h
