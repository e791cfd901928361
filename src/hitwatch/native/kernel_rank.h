/* hitwatch native kernel: ranking a complete interval's keys and its
 * latency, which compacts it to what its report lists (hw_compact).
 * Included by kernel_core.h. */
#ifndef HITWATCH_KERNEL_RANK_H
#define HITWATCH_KERNEL_RANK_H

/* ------------------------------------------------------------ ranking */

/* One key of an interval as engine/core.py's `_rank` orders them: count
 * descending, then name ascending. Names compare as bytes, which is the
 * order of their decoded text (and no two of them decode alike) when every
 * key is ASCII: see hw_iv_ascii. */
typedef struct {
    int64_t count;
    const uint8_t *p;
    uint32_t len;
} hw_ranked;

static int hw_rank_cmp(const void *a, const void *b) {
    const hw_ranked *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Whether every key of the interval is ASCII (its arena holds only key bytes). */
static int hw_iv_ascii(const hw_interval *iv) {
    uint8_t any = 0;
    for (size_t i = 0; i < iv->arena_n; i++) any |= iv->arena[i];
    return any < 0x80;
}

/* The keys of an interval split by kind, in one pass over its table: kind
 * k's n[k] keys go to out + k * stride (stride >= iv->keys_n). */
static void hw_by_kind(const hw_interval *iv, hw_ranked *out, size_t stride, size_t n[HW_KINDS]) {
    for (int k = 0; k < HW_KINDS; k++) n[k] = 0;
    for (size_t i = 0; i < iv->keys_cap; i++) {
        const hw_key *e = &iv->keys[i];
        if (e->kind >= HW_KINDS) continue; /* an empty slot */
        hw_ranked *r = out + e->kind * stride + n[e->kind]++;
        r->count = e->count;
        r->p = iv->arena + e->off;
        r->len = e->len;
    }
}

/* Puts the first `limit` of a[0..n) in ranked order at its front (what is
 * left after them is in no order, and may repeat entries): how many there
 * are, min(n, limit). An insertion into the kept few, which most keys of a
 * log do not even enter; a sort when many are wanted from many. */
static size_t hw_top(hw_ranked *a, size_t n, size_t limit) {
    if (limit > n) limit = n;
    if (limit == 0) return 0;
    if (limit > 32 && n > 64) {
        qsort(a, n, sizeof *a, hw_rank_cmp);
        return limit;
    }
    size_t m = 0; /* a[0..m) is ranked; m <= i, so a[m] was read already */
    for (size_t i = 0; i < n; i++) {
        hw_ranked x = a[i];
        if (m == limit) {
            if (hw_rank_cmp(&x, &a[m - 1]) >= 0) continue;
            m--; /* the last kept one drops out */
        }
        size_t j = m;
        while (j > 0 && hw_rank_cmp(&x, &a[j - 1]) < 0) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
        m++;
    }
    return m;
}

#define HW_MAX_METHODS 20 /* model.py's MAX_METHODS */

static int hw_dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Puts the k-th smallest of a[0..n) (k < n) at a[k], none larger before it
 * and none smaller after it: quickselect with branch-free partitions (below
 * the pivot, then equal to it: no round without progress, and durations are
 * random enough that branches would mostly mispredict), a sort of what is
 * left when it takes too many rounds (hostile durations), and an insertion
 * sort of the last few. */
static void hw_select(double *a, size_t n, size_t k) {
    size_t lo = 0, hi = n;
    int budget = 8;
    for (size_t m = n; m; m >>= 1) budget += 2;
    while (hi - lo > 16) {
        if (budget-- == 0) {
            qsort(a + lo, hi - lo, sizeof *a, hw_dcmp);
            return;
        }
        double x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        double pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        size_t j = lo;
        for (size_t i = lo; i < hi; i++) {
            double v = a[i];
            a[i] = a[j];
            a[j] = v;
            j += v < pivot;
        }
        if (k < j) {
            hi = j;
            continue;
        }
        size_t e = j;
        for (size_t i = j; i < hi; i++) {
            double v = a[i];
            a[i] = a[e];
            a[e] = v;
            e += v <= pivot;
        }
        if (k < e) return; /* a[k] is the pivot */
        lo = e;
    }
    for (size_t i = lo + 1; i < hi; i++) {
        double v = a[i];
        size_t j = i;
        for (; j > lo && a[j - 1] > v; j--) a[j] = a[j - 1];
        a[j] = v;
    }
}

/* model.latency_of over an interval's durations, into iv->lat (its order
 * changes): the values at the nearest ranks ceil(p n / 100) of p = 50, 95
 * and 99, and the largest. Each selection after the first is among the
 * larger ones the one before left after its rank. */
static void hw_latency(hw_interval *iv) {
    size_t n = iv->durs_n;
    iv->lat_n = (int64_t)n;
    if (n == 0) return;
    double *d = iv->durs;
    size_t r50 = (50 * n + 99) / 100 - 1, r95 = (95 * n + 99) / 100 - 1,
           r99 = (99 * n + 99) / 100 - 1;
    double most = d[0];
    for (size_t i = 1; i < n; i++)
        if (d[i] > most) most = d[i];
    hw_select(d, n, r50);
    if (r95 > r50) hw_select(d + r50 + 1, n - r50 - 1, r95 - r50 - 1);
    if (r99 > r95) hw_select(d + r95 + 1, n - r95 - 1, r99 - r95 - 1);
    iv->lat[0] = d[r50];
    iv->lat[1] = d[r95];
    iv->lat[2] = d[r99];
    iv->lat[3] = most;
}

/* Reduces a complete interval to what its report lists: the methods (at
 * most HW_MAX_METHODS), the `top` sections, hosts and vhosts, ranked, in
 * a plain array (iv->ranked), their names in a new, small arena, and its
 * latency. A worker thread does it before it queues a result, so that what
 * waits for the consumer is a few hundred bytes an interval, not its whole
 * table of keys. Only when the ranking is the same as Python's: every key
 * ASCII (see hw_rank_cmp) and no more methods than a report lists (else
 * "(other)" is Python's to make). `buf`/`cap`: scratch space, grown as
 * needed. 1 when compacted, 0 when left as it was, -1 when out of memory. */
static int hw_compact(hw_interval *iv, size_t top, hw_ranked **buf, size_t *cap) {
    if (iv->ranked || !hw_iv_ascii(iv)) return 0;
    size_t stride = iv->keys_n + 1, n[HW_KINDS];
    if (hw_grow((void **)buf, cap, sizeof **buf, HW_KINDS * stride) < 0) return -1;
    hw_ranked *by_kind[HW_KINDS];
    for (int k = 0; k < HW_KINDS; k++) by_kind[k] = *buf + k * stride;
    hw_by_kind(iv, *buf, stride, n);
    if (n[HW_METHOD] > HW_MAX_METHODS) return 0;
    const int order[HW_KINDS] = {HW_METHOD, HW_SECTION, HW_HOST, HW_VHOST};
    size_t keep[HW_KINDS], total = 0, bytes = 0;
    for (int i = 0; i < HW_KINDS; i++) {
        int kind = order[i];
        keep[i] = hw_top(by_kind[kind], n[kind], kind == HW_METHOD ? HW_MAX_METHODS : top);
        total += keep[i];
        for (size_t j = 0; j < keep[i]; j++) bytes += by_kind[kind][j].len;
    }
    hw_key *keys = malloc((total + 1) * sizeof *keys);
    uint8_t *arena = malloc(bytes + 1);
    if (keys == NULL || arena == NULL) {
        free(keys);
        free(arena);
        return -1;
    }
    size_t at = 0, off = 0;
    for (int i = 0; i < HW_KINDS; i++) {
        for (size_t j = 0; j < keep[i]; j++) {
            const hw_ranked *r = &by_kind[order[i]][j];
            memcpy(arena + off, r->p, r->len);
            keys[at].w0 = keys[at].w1 = 0;
            keys[at].count = r->count;
            keys[at].off = off;
            keys[at].len = r->len;
            keys[at].kind = (uint32_t)order[i];
            off += r->len;
            at++;
        }
    }
    hw_latency(iv);
    free(iv->keys);
    free(iv->arena);
    free(iv->durs);
    iv->durs = NULL;
    iv->durs_n = iv->durs_cap = 0;
    iv->keys = keys;
    iv->keys_cap = iv->keys_n = total;
    iv->arena = arena;
    iv->arena_cap = bytes + 1;
    iv->arena_n = off;
    iv->ranked = 1;
    return 1;
}

/* Compacts the complete intervals of a result (see hw_compact) past `floor`
 * (the engine may hold counts of the others, to which theirs must be added). */
static int hw_compact_result(hw_result *res, int64_t interval, int64_t floor, size_t top,
                             hw_ranked **buf, size_t *cap) {
    if (!res->started) return 0;
    int64_t kdone = (res->final + 1) / interval - 1;
    for (size_t i = 0; i < res->ivs_n; i++) {
        hw_interval *iv = res->ivs[i];
        if (iv->k > floor && iv->k <= kdone && hw_compact(iv, top, buf, cap) < 0) return -1;
    }
    return 0;
}

#endif
