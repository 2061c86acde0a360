/* iptab.h - counts per client address (the per-IP cap on connections that
 * gather a request head, HybridGatherPerIP).
 *
 * Owns an open-addressing hash table (linear probing, deletion by backward
 * shift, so no tombstones) of address -> count; an entry disappears when
 * its count drops to 0, so the table is as large as the number of distinct
 * addresses currently counted, not the number ever seen.
 *
 * Threads: not thread-safe; one owner (a child's listener thread).
 */
#ifndef HYB_IPTAB_H
#define HYB_IPTAB_H

#include <stddef.h>

typedef struct hyb_iptab_t hyb_iptab_t;

#define HYB_IPTAB_KEY_MAX 16    /* an IPv6 address */

hyb_iptab_t *hyb_iptab_create(void);
void hyb_iptab_destroy(hyb_iptab_t *t);
/* Add one for this address (len <= HYB_IPTAB_KEY_MAX bytes); returns the
 * new count, or -1 when memory ran out (nothing counted). */
int hyb_iptab_inc(hyb_iptab_t *t, const void *key, size_t len);
/* Take one away (no-op when the address is not counted); returns the new
 * count. */
int hyb_iptab_dec(hyb_iptab_t *t, const void *key, size_t len);
/* Current count of one address, and the number of addresses counted. */
int hyb_iptab_get(const hyb_iptab_t *t, const void *key, size_t len);
size_t hyb_iptab_size(const hyb_iptab_t *t);

#endif
