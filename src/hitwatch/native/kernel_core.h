/* hitwatch native kernel: the pure-C core, free of Python so that it can be
 * fuzzed on its own (fuzz/fuzz_kernel.c) and wrapped by _kernel.c.
 *
 * It replaces decode + parse + ingest of the pure engine for one block of
 * whole lines: every rule of formats/base.py, formats/csv.py and
 * formats/clf.py is replicated on bytes (every delimiter the rules look at is
 * ASCII, and UTF-8 decoding with errors="replace" never merges an ASCII byte
 * into a replacement character, so cutting bytes at ASCII delimiters and
 * decoding the pieces gives the pieces of the decoded line). The time model
 * of engine/core.py (M, F, start, lateness, late and invalid attribution,
 * SPEC §2-3) runs here per record, across blocks: the kernel keeps the
 * hits of seconds that are not final yet and the counts of intervals that
 * are still open (each interval with its own table of keys, so handing one
 * over is cheap). `hw_export_bounds` says what can be handed to Python: every
 * final second and every interval whose seconds are all final (nothing can
 * change them any more, SPEC §3's note), or everything at the end of a
 * source. Memory is bounded by the open intervals and their distinct keys,
 * as for the pure engine.
 *
 * Here: the kernel's state, its life cycle and the table of open intervals;
 * the headers it includes hold the rest, in this order: kernel_tally.h
 * (seconds and keys counted), kernel_export.h (what a feed hands over:
 * hw_export_bounds, hw_detach), kernel_rank.h (ranking, latency:
 * hw_compact), record_log.h (the accepted-record log) and kernel_feed.h
 * (the time model per record, lines and blocks: hw_feed).
 */
#ifndef HITWATCH_KERNEL_CORE_H
#define HITWATCH_KERNEL_CORE_H

#include "describe.h"
#include "parse.h"

/* ------------------------------------------------------------- tables */

static inline uint64_t hw_mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A key of 8 bytes or more (in use: more than 16) to a hash. The last word
 * is the 8 bytes that end the key, which may overlap the word before: no
 * variable-length copy, which is a libc call; with the length in the hash,
 * every byte still counts. */
static inline uint64_t hw_hash(const uint8_t *p, size_t n, uint64_t seed) {
    uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL);
    const uint8_t *last = p + n - 8;
    for (; p < last; p += 8) {
        h = (h ^ hw_load64(p)) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    h = (h ^ hw_load64(last)) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
    return hw_mix(h);
}

/* Two words (a key of up to 16 bytes, seeded) to a hash: one wide multiply,
 * where the 128-bit product exists, instead of three. Its high half depends
 * on every bit of both words; folding it onto the low half brings that into
 * the low bits, which pick the slot. */
#if defined(__SIZEOF_INT128__)
__extension__ typedef unsigned __int128 hw_u128;
static inline uint64_t hw_hash16(uint64_t a, uint64_t b) {
    hw_u128 p = (hw_u128)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}
#else
static inline uint64_t hw_hash16(uint64_t a, uint64_t b) {
    return hw_mix(a * 0x9E3779B97F4A7C15ULL + b);
}
#endif

/* One key (section, host, method or vhost) counted in one interval. No hash is kept,
 * so that an entry is 40 bytes: rehashing recomputes it, and probes compare
 * the words, which decide for keys of up to 16 bytes. */
typedef struct {
    uint64_t w0, w1; /* hw_key_words: with len, the whole of a key of <= 16 bytes */
    int64_t count;
    size_t off; /* key bytes in the interval's arena */
    uint32_t len;
    uint32_t kind; /* hw_kind; UINT32_MAX marks an empty slot */
} hw_key;

/* The counts of one open interval [kR, kR + R). */
typedef struct hw_interval {
    int64_t k;
    int64_t hits;
    uint64_t bytes_lo, bytes_hi; /* 128-bit sum: 15-digit sizes add up */
    int64_t late, invalid;
    int64_t status[5];
    uint64_t kseed, kseed2; /* hash seeds of this interval's keys */
    hw_key *keys;
    size_t keys_cap, keys_n;
    uint8_t *arena;
    size_t arena_cap, arena_n;
    /* The durations of its records that have one (a description with a
     * DURATION field), in no particular order. */
    double *durs;
    size_t durs_n, durs_cap;
    /* 1 after hw_compact: `keys` is then a plain array of the keys its report
     * lists, in its order (methods, then sections, then hosts, then vhosts),
     * not a table, and `lat` its latency (model.latency_of) when lat_n > 0:
     * p50, p95, p99 and max of its lat_n durations. */
    int ranked;
    double lat[4];
    int64_t lat_n;
    struct hw_interval *next_free;
} hw_interval;

typedef struct {
    int64_t ts;
    int64_t hits;
} hw_second;

typedef struct {
    int64_t lineno;
    int64_t nfields;
    int reason;
} hw_invalid;

#define HW_POOL_MAX 64       /* recycled intervals kept */
#define HW_KEEP_KEYS 4096    /* larger key tables are freed, not recycled */
#define HW_FRESH_KEYS 256    /* at most this many slots for a fresh interval's key table */
#define HW_FRESH_ARENA 4096  /* and at most this many bytes for its arena */
#define HW_KEEP_DURS 65536   /* larger arrays of durations are freed, not recycled */

typedef struct {
    /* options */
    int format;
    const hw_desc *desc; /* HW_DESC: the description (not owned) */
    int with_vhost, with_duration; /* HW_DESC: the format has vhosts, durations */
    int64_t interval, lag;
    uint64_t seed;
    /* time state (SPEC §2) */
    int started;
    int64_t start, final, max_ts, min_ts, pending_invalid;
    /* counts since the last hw_counts_clear */
    int64_t rows, late, invalid, headers, empty, lines, max_late;
    /* open intervals: k -> interval (open addressing, NULL is empty) */
    hw_interval **ivs;
    size_t ivs_cap, ivs_n;
    hw_interval *pool;
    size_t pool_n;
    /* A fresh interval (not from the pool: a reader's workers have none)
     * starts with the table and arena sizes of the last one handed over, up
     * to HW_FRESH_*: intervals of a log have similar keys, and growing from
     * the smallest size cost two rehashes and several reallocs each. */
    size_t keys_cap0, arena_cap0;
    /* non-final seconds: ts -> hits (ts < 0 is empty) */
    hw_second *secs;
    size_t secs_cap, secs_n;
    /* invalid lines since the last hw_counts_clear, for --verbose */
    hw_invalid *bad;
    size_t bad_cap, bad_n;
    /* With `records`, the log of the records accepted since the last
     * hw_counts_clear (see hw_log_record). It leaves with its result; its
     * buffer may come back (hw_log_reuse, and a reader's pool). */
    int records;
    uint8_t *log;
    size_t log_n, log_cap;
    uint8_t *scratch;
    /* one-entry caches: consecutive lines mostly share them */
    int64_t last_k, last_lo; /* last_lo = last_k * interval */
    hw_interval *last_iv;
    hw_stamp_cache stamps;
} hw_kernel;

static int hw_grow(void **ptr, size_t *cap, size_t elem, size_t need) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 16;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*ptr, cap2 * elem);
    if (p == NULL) return -1;
    *ptr = p;
    *cap = cap2;
    return 0;
}

/* Every byte set, not only the kinds: probes compare an entry's words before
 * its kind, which must not read indeterminate memory. */
static void hw_keys_empty(hw_key *keys, size_t cap) { memset(keys, 0xff, cap * sizeof *keys); }

static void hw_iv_destroy(hw_interval *iv) {
    free(iv->keys);
    free(iv->arena);
    free(iv->durs);
    free(iv);
}

/* A fresh, empty interval k (recycled when possible). */
static hw_interval *hw_iv_new(hw_kernel *K, int64_t k) {
    hw_interval *iv = K->pool;
    if (iv != NULL) {
        K->pool = iv->next_free;
        K->pool_n--;
    } else {
        iv = calloc(1, sizeof *iv);
        if (iv == NULL) return NULL;
    }
    hw_key *keys = iv->keys;
    size_t keys_cap = iv->keys_cap;
    uint8_t *arena = iv->arena;
    size_t arena_cap = iv->arena_cap;
    double *durs = iv->durs;
    size_t durs_cap = iv->durs_cap;
    if (keys == NULL) {
        keys_cap = K->keys_cap0;
        keys = malloc(keys_cap * sizeof *keys);
        if (keys == NULL) {
            hw_iv_destroy(iv);
            return NULL;
        }
    }
    if (arena == NULL && K->arena_cap0) {
        arena = malloc(K->arena_cap0); /* may fail: hw_grow then tries again */
        arena_cap = arena ? K->arena_cap0 : 0;
    }
    hw_keys_empty(keys, keys_cap);
    memset(iv, 0, sizeof *iv);
    iv->k = k;
    iv->kseed = K->seed ^ hw_mix((uint64_t)k);
    iv->kseed2 = hw_mix(iv->kseed);
    iv->keys = keys;
    iv->keys_cap = keys_cap;
    iv->arena = arena;
    iv->arena_cap = arena_cap;
    iv->durs = durs;
    iv->durs_cap = durs_cap;
    return iv;
}

/* Give a handed-over interval back to the pool (its memory is reused). */
static void hw_iv_release(hw_kernel *K, hw_interval *iv) {
    if (K->pool_n >= HW_POOL_MAX || iv->keys_cap > HW_KEEP_KEYS || iv->ranked ||
        iv->durs_cap > HW_KEEP_DURS) {
        hw_iv_destroy(iv);
        return;
    }
    iv->next_free = K->pool;
    K->pool = iv;
    K->pool_n++;
}

/* Empties the per-feed counts (not the time state, intervals or seconds). */
static void hw_counts_clear(hw_kernel *K) {
    K->rows = K->late = K->invalid = K->headers = K->empty = K->lines = K->max_late = 0;
    K->bad_n = 0;
    K->log_n = 0;
}

static int hw_init(hw_kernel *K, int format, int64_t interval, int64_t lateness, uint64_t seed) {
    memset(K, 0, sizeof *K);
    K->format = format;
    K->interval = interval;
    K->lag = lateness + 1;
    K->seed = seed;
    K->max_ts = -1;
    K->final = -1;
    K->stamps.ts = -2;
    K->last_k = -1;
    K->keys_cap0 = 64;
    K->ivs_cap = 64;
    K->secs_cap = 1024;
    K->ivs = calloc(K->ivs_cap, sizeof *K->ivs);
    K->secs = malloc(K->secs_cap * sizeof *K->secs);
    K->scratch = malloc(2 * HW_MAX_LINE + 64);
    if (!K->ivs || !K->secs || !K->scratch) return -1;
    for (size_t i = 0; i < K->secs_cap; i++) K->secs[i].ts = -1;
    return 0;
}

/* Makes K read description D (HW_DESC), which must outlive it. */
static void hw_set_desc(hw_kernel *K, const hw_desc *D) {
    K->desc = D;
    K->with_vhost = D->has[HW_F_VHOST];
    K->with_duration = D->ndur > 0;
}

/* hw_parse_line for kernel K's format: one line without its line ending. */
static inline int hw_parse_k(hw_kernel *K, const uint8_t *p, size_t n, hw_rec *r,
                             int64_t *nfields) {
    if (K->format != HW_DESC)
        return hw_parse_line(K->format, p, n, r, K->scratch, &K->stamps, nfields);
    if (n > HW_MAX_LINE) return HW_OVERLONG;
    if (hw_is_header(p, n)) return HW_HEADER;
    return hw_desc_parse(K->desc, p, n, r, K->scratch, &K->stamps);
}

static void hw_free(hw_kernel *K) {
    if (K->ivs)
        for (size_t i = 0; i < K->ivs_cap; i++)
            if (K->ivs[i]) hw_iv_destroy(K->ivs[i]);
    while (K->pool) {
        hw_interval *next = K->pool->next_free;
        hw_iv_destroy(K->pool);
        K->pool = next;
    }
    free(K->ivs);
    free(K->secs);
    free(K->bad);
    free(K->log);
    free(K->scratch);
    memset(K, 0, sizeof *K);
}

static void hw_iv_place(hw_interval **ivs, size_t cap, hw_interval *iv) {
    size_t j = hw_mix((uint64_t)iv->k) & (cap - 1);
    while (ivs[j]) j = (j + 1) & (cap - 1);
    ivs[j] = iv;
}

/* Rebuilds the index of open intervals into `cap` slots (after growth or removals). */
static int hw_reindex_ivs(hw_kernel *K, size_t cap) {
    hw_interval **n = calloc(cap, sizeof *n);
    if (n == NULL) return -1;
    for (size_t i = 0; i < K->ivs_cap; i++)
        if (K->ivs[i]) hw_iv_place(n, cap, K->ivs[i]);
    free(K->ivs);
    K->ivs = n;
    K->ivs_cap = cap;
    K->last_iv = NULL;
    K->last_k = -1;
    return 0;
}

static hw_interval *hw_iv(hw_kernel *K, int64_t k) {
    if (k == K->last_k && K->last_iv) return K->last_iv;
    size_t mask = K->ivs_cap - 1, j = hw_mix((uint64_t)k) & mask;
    while (K->ivs[j] && K->ivs[j]->k != k) j = (j + 1) & mask;
    hw_interval *iv = K->ivs[j];
    if (iv == NULL) {
        if ((K->ivs_n + 1) * 2 > K->ivs_cap) {
            if (hw_reindex_ivs(K, K->ivs_cap * 2) < 0) return NULL;
            return hw_iv(K, k);
        }
        iv = hw_iv_new(K, k);
        if (iv == NULL) return NULL;
        K->ivs[j] = iv;
        K->ivs_n++;
    }
    K->last_k = k;
    K->last_lo = k * K->interval;
    K->last_iv = iv;
    return iv;
}

#include "kernel_tally.h"
#include "kernel_export.h"
#include "kernel_rank.h"

/* ------------------------------------------------------------- engine */

/* The interval holding second ts >= 0. Most lookups hit the last interval
 * looked up: a range test spares the 64-bit division (ts >= 0 and
 * last_lo >= 0, so no overflow). */
static inline hw_interval *hw_iv_at(hw_kernel *K, int64_t ts) {
    if (K->last_iv && (uint64_t)(ts - K->last_lo) < (uint64_t)K->interval) return K->last_iv;
    return hw_iv(K, ts / K->interval);
}

#include "record_log.h"
#include "kernel_feed.h"

#endif
