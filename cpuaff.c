/* cpuaff.c - HybridCPUAffinity (see cpuaff.h).
 *
 * Owns: the slot-to-CPU rule and the sched_setaffinity call.  Off by
 * default.  On, a child's listener and workers share one CPU, so that a
 * wake-up between them needs no cross-CPU interrupt and the woken thread
 * runs when the waker blocks, with warm caches; the price is that one
 * child can use only one CPU, so children (StartServers/ServerLimit)
 * should be at least as many as CPUs.  Measured: cheaper keep-alive
 * requests, dearer Connection: close ones (BENCHMARKS.md).
 *
 * Threads: as cpuaff.h says.
 */
#include "cpuaff.h"

#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <apr_strings.h>

int hyb_cpu_for_slot(int slot, const cpu_set_t *allowed)
{
    int n = CPU_COUNT(allowed), want, cpu;

    if (n <= 0 || slot < 0) {
        return -1;
    }
    want = slot % n;
    for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, allowed) && want-- == 0) {
            return cpu;
        }
    }
    return -1;      /* not reached: CPU_COUNT said n are set */
}

int hyb_cpuaff_apply(int slot, int *cpu)
{
    cpu_set_t allowed, mine;

    *cpu = -1;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        return errno;
    }
    *cpu = hyb_cpu_for_slot(slot, &allowed);
    if (*cpu < 0) {
        return EINVAL;
    }
    CPU_ZERO(&mine);
    CPU_SET(*cpu, &mine);
    if (sched_setaffinity(0, sizeof(mine), &mine) != 0) {
        int err = errno;
        *cpu = -1;
        return err;
    }
    return 0;
}

const char *hyb_cpuaff_ranges(apr_pool_t *p, const cpu_set_t *set)
{
    const char *out = "";
    int cpu = 0;

    while (cpu < CPU_SETSIZE) {
        int last;

        if (!CPU_ISSET(cpu, set)) {
            cpu++;
            continue;
        }
        for (last = cpu; last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set);
             last++) {
        }
        if (last > cpu) {
            out = apr_psprintf(p, "%s%s%d-%d", out, *out ? "," : "", cpu,
                               last);
        }
        else {
            out = apr_psprintf(p, "%s%s%d", out, *out ? "," : "", cpu);
        }
        cpu = last + 1;
    }
    return out;
}

const char *hyb_cpuaff_describe(apr_pool_t *p, int *count)
{
    cpu_set_t allowed;

    *count = 0;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        return NULL;
    }
    *count = CPU_COUNT(&allowed);
    return hyb_cpuaff_ranges(p, &allowed);
}

int hyb_cpuaff_count_self(void)
{
    cpu_set_t allowed;
    long online;

    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0
        && CPU_COUNT(&allowed) > 0) {
        return CPU_COUNT(&allowed);
    }
    online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}
