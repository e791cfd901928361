/* hitwatch native kernel: what a feed hands over (hw_result, made by
 * hw_detach) and when it may. Included by kernel_core.h. */
#ifndef HITWATCH_KERNEL_EXPORT_H
#define HITWATCH_KERNEL_EXPORT_H

/* -------------------------------------------------------------- export */

/* What can be handed over now: intervals with k <= *kmax and seconds <= *smax.
 * Returns 0 when nothing can. With `all` (end of a source, or a live source
 * whose engine may move the clock itself), everything. */
static int hw_export_bounds(const hw_kernel *K, int all, int64_t *kmax, int64_t *smax) {
    if (all) {
        *kmax = INT64_MAX;
        *smax = INT64_MAX;
        return 1;
    }
    if (!K->started) return 0;
    /* interval k is complete when (k + 1) R - 1 <= F; F + 1 >= start >= 0 */
    *kmax = (K->final + 1) / K->interval - 1;
    *smax = K->final;
    return 1;
}

/* What a feed hands over (see hw_detach): plain C, so that it can be made in
 * a thread without the GIL and turned into Python objects later. */
typedef struct hw_result {
    struct hw_result *next;
    int64_t used; /* bytes of the block read */
    int64_t at;   /* file offset of those bytes when its log was left out (lazy), else -1 */
    int last;     /* the source is done; everything was handed over */
    int error;    /* an errno: reading failed (nothing else is set) */
    int started;
    int64_t start, final, max_ts, min_ts, pending_invalid;
    int64_t rows, late, invalid, headers, empty, lines, max_late;
    hw_second *secs; /* final seconds, any order */
    size_t secs_n;
    hw_interval **ivs; /* complete intervals, by k */
    size_t ivs_n;
    hw_invalid *bad; /* invalid lines, in order */
    size_t bad_n;
    uint8_t *recs; /* the accepted-record log of the lines read (hw_log_record), or NULL */
    size_t recs_n, recs_cap;
} hw_result;

static int hw_by_k(const void *a, const void *b) {
    int64_t x = (*(hw_interval *const *)a)->k, y = (*(hw_interval *const *)b)->k;
    return (x > y) - (x < y);
}

/* Gives the log buffer of a result that was handed over back to kernel K,
 * for its next log, when it has none (a kernel fed in one thread). */
static void hw_log_reuse(hw_kernel *K, hw_result *res) {
    if (res == NULL || res->recs == NULL || K->log != NULL) return;
    K->log = res->recs;
    K->log_cap = res->recs_cap;
    K->log_n = 0;
    res->recs = NULL;
    res->recs_n = res->recs_cap = 0;
}

/* Frees a result; its intervals go back to `pool`'s pool, or are freed when
 * `pool` is NULL (another thread owns the kernel). */
static void hw_result_free(hw_kernel *pool, hw_result *res) {
    if (res == NULL) return;
    for (size_t i = 0; i < res->ivs_n; i++) {
        if (pool)
            hw_iv_release(pool, res->ivs[i]);
        else
            hw_iv_destroy(res->ivs[i]);
    }
    free(res->ivs);
    free(res->secs);
    free(res->bad);
    free(res->recs);
    free(res);
}

/* The per-feed counts, the time state and whatever can be handed over (see
 * hw_export_bounds), which leaves the kernel. NULL when out of memory. */
static hw_result *hw_detach(hw_kernel *K, int all) {
    hw_result *res = calloc(1, sizeof *res);
    if (res == NULL) return NULL;
    res->at = -1;
    res->last = all;
    res->started = K->started;
    res->start = K->start;
    res->final = K->final;
    res->max_ts = K->max_ts;
    res->min_ts = K->min_ts;
    res->pending_invalid = K->pending_invalid;
    res->rows = K->rows;
    res->late = K->late;
    res->invalid = K->invalid;
    res->headers = K->headers;
    res->empty = K->empty;
    res->lines = K->lines;
    res->max_late = K->max_late;
    res->bad = K->bad;
    res->bad_n = K->bad_n;
    K->bad = NULL;
    K->bad_cap = K->bad_n = 0;
    if (K->log_n) { /* the log leaves with the result */
        res->recs = K->log;
        res->recs_n = K->log_n;
        res->recs_cap = K->log_cap;
        K->log = NULL;
        K->log_cap = K->log_n = 0;
    }
    int64_t kmax, smax;
    if (!hw_export_bounds(K, all, &kmax, &smax)) return res;
    res->secs = malloc((K->secs_n + 1) * sizeof *res->secs);
    res->ivs = malloc((K->ivs_n + 1) * sizeof *res->ivs);
    if (res->secs == NULL || res->ivs == NULL) {
        hw_result_free(K, res);
        return NULL;
    }
    for (size_t i = 0; i < K->secs_cap; i++)
        if (K->secs[i].ts >= 0 && K->secs[i].ts <= smax) res->secs[res->secs_n++] = K->secs[i];
    for (size_t i = 0; i < K->ivs_cap; i++) {
        hw_interval *iv = K->ivs[i];
        if (iv && iv->k <= kmax) {
            res->ivs[res->ivs_n++] = iv;
            K->keys_cap0 = iv->keys_cap < HW_FRESH_KEYS ? iv->keys_cap : HW_FRESH_KEYS;
            K->arena_cap0 = iv->arena_cap < HW_FRESH_ARENA ? iv->arena_cap : HW_FRESH_ARENA;
            K->ivs[i] = NULL;
        }
    }
    qsort(res->ivs, res->ivs_n, sizeof *res->ivs, hw_by_k);
    K->ivs_n -= res->ivs_n;
    K->last_iv = NULL;
    K->last_k = -1;
    int rc = 0;
    if (res->ivs_n) rc = hw_reindex_ivs(K, K->ivs_cap);
    if (rc == 0 && res->secs_n) {
        if (all) {
            for (size_t i = 0; i < K->secs_cap; i++) K->secs[i].ts = -1;
            K->secs_n = 0;
        } else {
            rc = hw_rehash_secs(K, K->secs_cap, smax);
        }
    }
    if (rc < 0) {
        hw_result_free(K, res);
        return NULL;
    }
    return res;
}

#endif
