/* cpuaff.h - HybridCPUAffinity: the CPU a child's threads run on.
 *
 * Owns: the choice of CPU for a process slot (pure, unit-tested in
 * tests/unit/test_cpuaff.c) and applying it to the calling process.
 *
 * Threads: hyb_cpuaff_apply runs on a child's main thread right after the
 * fork, before the child creates any thread (threads inherit the mask, so
 * the listener, the workers and whatever modules start in child_init run
 * on the same CPU).  hyb_cpuaff_describe runs in the parent during
 * configuration; hyb_cpuaff_count_self on a child's main thread.
 */
#ifndef HYB_CPUAFF_H
#define HYB_CPUAFF_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>

#include <apr_pools.h>

/* Pure: the CPU for `slot` out of `allowed` (the CPUs httpd may use): the
 * (slot mod n)-th allowed CPU in ascending order, so that children in
 * consecutive slots spread over the CPUs and wrap around.  -1 when
 * `allowed` is empty or slot < 0. */
int hyb_cpu_for_slot(int slot, const cpu_set_t *allowed);

/* Child, before its threads: restrict the process to its slot's CPU.
 * Returns 0 and the CPU in *cpu, or an errno (*cpu = -1). */
int hyb_cpuaff_apply(int slot, int *cpu);

/* Any thread: how many CPUs the calling process may run on (its
 * affinity mask; the online CPUs if that cannot be read; at least 1). */
int hyb_cpuaff_count_self(void);

/* Pure: the set as ranges, e.g. "0-3,6" ("" when empty). */
const char *hyb_cpuaff_ranges(apr_pool_t *p, const cpu_set_t *set);

/* Parent: the CPUs httpd may use, as ranges, and their number in *count,
 * for the start-up log line; NULL when they cannot be read. */
const char *hyb_cpuaff_describe(apr_pool_t *p, int *count);

#endif
