/* hyb_assert.h - HYB_ASSERT, httpd's AP_DEBUG_ASSERT for the leaf modules
 * that do not include httpd.h (fdqueue.c and the other unit-tested ones),
 * so that a -DAP_DEBUG build checks their invariants as httpd's own debug
 * build checks AP_DEBUG_ASSERT, and the unit tests can too.  Without
 * AP_DEBUG it compiles to nothing (the condition is not evaluated).
 *
 * Owns: one macro and its failure path (message on stderr, which is the
 * error log in httpd, then abort()).
 *
 * Threads: any.
 */
#ifndef HYB_ASSERT_H
#define HYB_ASSERT_H

#ifdef AP_DEBUG
#include <stdio.h>
#include <stdlib.h>

static inline void hyb_assert_fail(const char *cond, const char *file,
                                   int line)
{
    fprintf(stderr, "HYB_ASSERT failed: %s at %s:%d\n", cond, file, line);
    fflush(stderr);
    abort();
}

#define HYB_ASSERT(c) ((c) ? (void)0 : hyb_assert_fail(#c, __FILE__, __LINE__))
#else
#define HYB_ASSERT(c) ((void)0)
#endif

#endif
