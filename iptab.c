/* iptab.c - per-address counters (see iptab.h). */
#include <stdlib.h>
#include <string.h>

#include "iptab.h"

typedef struct hyb_ipent_t {
    unsigned char key[HYB_IPTAB_KEY_MAX];
    unsigned char len;          /* 0: empty slot */
    int count;
} hyb_ipent_t;

struct hyb_iptab_t {
    hyb_ipent_t *slots;
    size_t cap;                 /* power of two */
    size_t used;
};

#define HYB_IPTAB_MIN_CAP 64

static size_t hyb_iptab_hash(const unsigned char *k, size_t len)
{
    size_t h = 2166136261u;     /* FNV-1a */
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ k[i]) * 16777619u;
    }
    return h ^ (h >> 15);
}

hyb_iptab_t *hyb_iptab_create(void)
{
    hyb_iptab_t *t = calloc(1, sizeof(*t));

    if (t) {
        t->cap = HYB_IPTAB_MIN_CAP;
        t->slots = calloc(t->cap, sizeof(*t->slots));
        if (!t->slots) {
            free(t);
            return NULL;
        }
    }
    return t;
}

void hyb_iptab_destroy(hyb_iptab_t *t)
{
    if (t) {
        free(t->slots);
        free(t);
    }
}

/* Index of the entry for key, or of the empty slot where it would go. */
static size_t hyb_iptab_find(const hyb_iptab_t *t, const unsigned char *k,
                             size_t len)
{
    size_t mask = t->cap - 1;
    size_t i = hyb_iptab_hash(k, len) & mask;

    while (t->slots[i].len
           && (t->slots[i].len != len || memcmp(t->slots[i].key, k, len))) {
        i = (i + 1) & mask;
    }
    return i;
}

static int hyb_iptab_grow(hyb_iptab_t *t)
{
    hyb_ipent_t *old = t->slots;
    size_t oldcap = t->cap, i;

    t->slots = calloc(oldcap * 2, sizeof(*t->slots));
    if (!t->slots) {
        t->slots = old;
        return 0;
    }
    t->cap = oldcap * 2;
    for (i = 0; i < oldcap; i++) {
        if (old[i].len) {
            t->slots[hyb_iptab_find(t, old[i].key, old[i].len)] = old[i];
        }
    }
    free(old);
    return 1;
}

int hyb_iptab_inc(hyb_iptab_t *t, const void *key, size_t len)
{
    size_t i;

    if (len == 0 || len > HYB_IPTAB_KEY_MAX) {
        return -1;
    }
    if ((t->used + 1) * 2 > t->cap && !hyb_iptab_grow(t)) {
        return -1;
    }
    i = hyb_iptab_find(t, key, len);
    if (!t->slots[i].len) {
        memcpy(t->slots[i].key, key, len);
        t->slots[i].len = (unsigned char)len;
        t->slots[i].count = 0;
        t->used++;
    }
    return ++t->slots[i].count;
}

/* Remove slot i and shift later members of its probe run back. */
static void hyb_iptab_delete(hyb_iptab_t *t, size_t i)
{
    size_t mask = t->cap - 1, j = i;

    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (!t->slots[j].len) {
            break;
        }
        home = hyb_iptab_hash(t->slots[j].key, t->slots[j].len) & mask;
        /* j's entry may move to i only if i lies on its probe path. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].len = 0;
    t->used--;
}

int hyb_iptab_dec(hyb_iptab_t *t, const void *key, size_t len)
{
    size_t i;
    int n;

    if (len == 0 || len > HYB_IPTAB_KEY_MAX) {
        return 0;
    }
    i = hyb_iptab_find(t, key, len);
    if (!t->slots[i].len) {
        return 0;
    }
    n = --t->slots[i].count;
    if (n <= 0) {
        hyb_iptab_delete(t, i);
        n = 0;
    }
    return n;
}

int hyb_iptab_get(const hyb_iptab_t *t, const void *key, size_t len)
{
    size_t i;

    if (len == 0 || len > HYB_IPTAB_KEY_MAX) {
        return 0;
    }
    i = hyb_iptab_find(t, key, len);
    return t->slots[i].len ? t->slots[i].count : 0;
}

size_t hyb_iptab_size(const hyb_iptab_t *t)
{
    return t->used;
}
