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

/* The home slot of second ts: Fibonacci hashing (bits from 32 up of the
 * product, which depend on all bits below them), one multiply. Nearby seconds,
 * the usual contents, land apart. */
static inline size_t hw_sec_slot(int64_t ts, size_t mask) {
    return (size_t)(((uint64_t)ts * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

static void hw_sec_place(hw_second *secs, size_t cap, hw_second s) {
    size_t j = hw_sec_slot(s.ts, cap - 1);
    while (secs[j].ts >= 0) j = (j + 1) & (cap - 1);
    secs[j] = s;
}

/* Rebuilds the seconds table into `cap` slots, keeping only seconds > `drop_upto`. */
static int hw_rehash_secs(hw_kernel *K, size_t cap, int64_t drop_upto) {
    hw_second *n = malloc(cap * sizeof *n);
    if (n == NULL) return -1;
    for (size_t i = 0; i < cap; i++) n[i].ts = -1;
    size_t kept = 0;
    for (size_t i = 0; i < K->secs_cap; i++) {
        if (K->secs[i].ts < 0 || K->secs[i].ts <= drop_upto) continue;
        hw_sec_place(n, cap, K->secs[i]);
        kept++;
    }
    free(K->secs);
    K->secs = n;
    K->secs_cap = cap;
    K->secs_n = kept;
    return 0;
}

/* No cache of the last second: in logs whose lines arrive a little out of
 * order (a third of the benchmark's lines change second), its mispredicted
 * test cost more than the one-multiply probe it spared. */
static int hw_add_second(hw_kernel *K, int64_t ts) {
    if ((K->secs_n + 1) * 2 > K->secs_cap && hw_rehash_secs(K, K->secs_cap * 2, -1) < 0)
        return -1;
    size_t mask = K->secs_cap - 1, j = hw_sec_slot(ts, mask);
    while (K->secs[j].ts >= 0 && K->secs[j].ts != ts) j = (j + 1) & mask;
    hw_second *s = &K->secs[j];
    if (s->ts < 0) {
        s->ts = ts;
        s->hits = 0;
        K->secs_n++;
    }
    s->hits++;
    return 0;
}

static inline uint32_t hw_load32(const uint8_t *s) {
    uint32_t v;
    memcpy(&v, s, 4);
    return v;
}

/* The first 16 bytes of a key as two words, with fixed-size loads only: a
 * memcpy of a variable length is a libc call, and its byte stores stall the
 * word load that follows. Loads that would pass the key's end overlap the
 * previous one instead; with the length (compared too), the words still
 * determine a key of up to 16 bytes, since every byte lands at a place that
 * depends only on the length. Nothing outside s[0, n) is read. */
static inline void hw_key_words(const uint8_t *s, size_t n, uint64_t *w0, uint64_t *w1) {
    if (n >= 8) {
        *w0 = hw_load64(s);
        *w1 = n > 16 ? hw_load64(s + 8) : hw_load64(s + n - 8);
    } else if (n >= 4) {
        *w0 = hw_load32(s) | (uint64_t)hw_load32(s + n - 4) << 32;
        *w1 = 0;
    } else {
        *w0 = n ? s[0] | (uint64_t)s[n / 2] << 8 | (uint64_t)s[n - 1] << 16 : 0;
        *w1 = 0;
    }
}

/* The length and kind are hashed too: keys whose words are equal (a host and
 * a method "GET", or "a" and "aaa") must not share their home slots. */
static HW_ALWAYS_INLINE uint64_t hw_key_hash(const hw_interval *iv, uint32_t kind,
                                             const uint8_t *s, size_t n, uint64_t w0,
                                             uint64_t w1) {
    if (n <= 16) return hw_hash16(w0 ^ iv->kseed, w1 ^ iv->kseed2 ^ ((uint64_t)n << 2 | kind));
    return hw_hash(s, n, iv->kseed ^ kind);
}

/* Small tables (the usual few dozen keys an interval) are kept at most a
 * quarter full, which makes collisions, and the mispredicted probes they
 * cost, rarer; large ones at most half full, as memory then matters more. */
#define HW_SPARSE_KEYS 1024

static inline int hw_keys_full(const hw_interval *iv) {
    return (iv->keys_n + 1) * (iv->keys_cap <= HW_SPARSE_KEYS ? 4 : 2) > iv->keys_cap;
}

static int hw_rehash_keys(hw_interval *iv) {
    size_t cap = iv->keys_cap * 2;
    hw_key *n = malloc(cap * sizeof *n);
    if (n == NULL) return -1;
    hw_keys_empty(n, cap);
    for (size_t i = 0; i < iv->keys_cap; i++) {
        if (iv->keys[i].kind == UINT32_MAX) continue;
        const hw_key *e = &iv->keys[i];
        size_t j = hw_key_hash(iv, e->kind, iv->arena + e->off, e->len, e->w0, e->w1) & (cap - 1);
        while (n[j].kind != UINT32_MAX) j = (j + 1) & (cap - 1);
        n[j] = *e;
    }
    free(iv->keys);
    iv->keys = n;
    iv->keys_cap = cap;
    return 0;
}

/* Inserts a key not in the table yet (after growing it if need be). Out of
 * line: it is rare, and the lookup inlined three times stays small. */
static HW_NOINLINE int hw_new_key(hw_interval *iv, uint32_t kind, const uint8_t *s, size_t n,
                                  uint64_t h, uint64_t w0, uint64_t w1) {
    if (hw_keys_full(iv) && hw_rehash_keys(iv) < 0) return -1;
    if (hw_grow((void **)&iv->arena, &iv->arena_cap, 1, iv->arena_n + n + 1) < 0) return -1;
    size_t mask = iv->keys_cap - 1, j = h & mask;
    while (iv->keys[j].kind != UINT32_MAX) j = (j + 1) & mask;
    hw_key *e = &iv->keys[j];
    memcpy(iv->arena + iv->arena_n, s, n);
    e->w0 = w0;
    e->w1 = w1;
    e->count = 1;
    e->off = iv->arena_n;
    e->len = (uint32_t)n;
    e->kind = kind;
    iv->arena_n += n;
    iv->keys_n++;
    return 0;
}

/* Inlined at each of its three calls (one per kind): the length tests then
 * follow one kind's keys, which predicts them. */
static HW_ALWAYS_INLINE int hw_add_key(hw_interval *iv, uint32_t kind, const uint8_t *s,
                                       size_t n) {
    uint64_t w0, w1;
    hw_key_words(s, n, &w0, &w1);
    uint64_t h = hw_key_hash(iv, kind, s, n, w0, w1);
    size_t mask = iv->keys_cap - 1, j = h & mask;
    for (;;) {
        hw_key *e = &iv->keys[j];
        if (e->w0 == w0 && e->w1 == w1 && e->kind == kind && e->len == n &&
            (n <= 16 || memcmp(iv->arena + e->off + 16, s + 16, n - 16) == 0)) {
            e->count++;
            return 0;
        }
        if (e->kind == UINT32_MAX) return hw_new_key(iv, kind, s, n, h, w0, w1);
        j = (j + 1) & mask;
    }
}

/* Adds `count` to key `s` of `kind` (hw_add_key, by more than one). */
static int hw_add_key_n(hw_interval *iv, uint32_t kind, const uint8_t *s, size_t n, int64_t count) {
    uint64_t w0, w1;
    hw_key_words(s, n, &w0, &w1);
    uint64_t h = hw_key_hash(iv, kind, s, n, w0, w1);
    size_t mask = iv->keys_cap - 1, j = h & mask;
    for (;;) {
        hw_key *e = &iv->keys[j];
        if (e->w0 == w0 && e->w1 == w1 && e->kind == kind && e->len == n &&
            (n <= 16 || memcmp(iv->arena + e->off + 16, s + 16, n - 16) == 0)) {
            e->count += count;
            return 0;
        }
        if (e->kind == UINT32_MAX) {
            if (hw_new_key(iv, kind, s, n, h, w0, w1) < 0) return -1;
            return count > 1 ? hw_add_key_n(iv, kind, s, n, count - 1) : 0;
        }
        j = (j + 1) & mask;
    }
}

/* Adds the counts of interval `from` (not compacted) to `to`, of the same k. */
static int hw_iv_merge(hw_interval *to, const hw_interval *from) {
    to->hits += from->hits;
    uint64_t lo = to->bytes_lo + from->bytes_lo;
    to->bytes_hi += from->bytes_hi + (lo < to->bytes_lo);
    to->bytes_lo = lo;
    to->late += from->late;
    to->invalid += from->invalid;
    for (int c = 0; c < 5; c++) to->status[c] += from->status[c];
    if (from->durs_n) {
        if (hw_grow((void **)&to->durs, &to->durs_cap, sizeof *to->durs,
                    to->durs_n + from->durs_n) < 0)
            return -1;
        memcpy(to->durs + to->durs_n, from->durs, from->durs_n * sizeof *from->durs);
        to->durs_n += from->durs_n;
    }
    for (size_t i = 0; i < from->keys_cap; i++) {
        const hw_key *e = &from->keys[i];
        if (e->kind == UINT32_MAX) continue;
        if (hw_add_key_n(to, e->kind, from->arena + e->off, e->len, e->count) < 0) return -1;
    }
    return 0;
}

static int hw_bad(hw_kernel *K, int64_t lineno, int reason, int64_t nfields) {
    if (hw_grow((void **)&K->bad, &K->bad_cap, sizeof *K->bad, K->bad_n + 1) < 0) return -1;
    K->bad[K->bad_n].lineno = lineno;
    K->bad[K->bad_n].reason = reason;
    K->bad[K->bad_n].nfields = nfields;
    K->bad_n++;
    return 0;
}

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

/* ------------------------------------------------------------- engine */

/* The interval holding second ts >= 0. Most lookups hit the last interval
 * looked up: a range test spares the 64-bit division (ts >= 0 and
 * last_lo >= 0, so no overflow). */
static inline hw_interval *hw_iv_at(hw_kernel *K, int64_t ts) {
    if (K->last_iv && (uint64_t)(ts - K->last_lo) < (uint64_t)K->interval) return K->last_iv;
    return hw_iv(K, ts / K->interval);
}

/* ------------------------------------------------ accepted-record log
 *
 * With K->records set, every record the kernel counts (accepted: not late,
 * not invalid, not a header or an empty line) is also written, in reading
 * order, to K->log, which hw_detach hands over with the result (Kernel(...,
 * records=True): the 19th element of `Fed`, decoded by
 * hitwatch.native.decode_records and _kernel.records_columns). Per record,
 * little-endian, no padding:
 *
 *     int64  ts
 *     uint16 status        100..599, the three digits as a number, | flags:
 *                          HW_LOG_DURATION, HW_LOG_VHOST (other bits 0)
 *     uint16 method_len
 *     uint32 section_len
 *     uint32 host_len
 *     float64 duration     with HW_LOG_DURATION: seconds, NaN for none
 *     uint32 vhost_len     with HW_LOG_VHOST
 *     method, section, host bytes (method_len, section_len, host_len of them)
 *     vhost bytes          with HW_LOG_VHOST
 *
 * The keys are the bytes the kernel counts, raw (not decoded; "(other)" where
 * it has HW_OTHER). The flags are set on every record of a format that has
 * vhosts or durations (a description's), on none of the others': logs of
 * CSV and CLF are as they always were. A log holds the records of the
 * lines of one feed (one block of a file), so it is at most a few times the
 * block's size. */
#define HW_LOG_HEAD 20
#define HW_LOG_DURATION 0x4000
#define HW_LOG_VHOST 0x8000
#define HW_LOG_STATUS 0x03FF /* the status's bits; the others are flags or 0 */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HW_LITTLE 1 /* the log's order: its numbers are plain loads and stores */
#else
#define HW_LITTLE 0
#endif

static inline void hw_put_le(uint8_t *o, uint64_t v, int n) {
#if HW_LITTLE
    memcpy(o, &v, (size_t)n);
#else
    for (int i = 0; i < n; i++) o[i] = (uint8_t)(v >> (8 * i));
#endif
}

/* Powers of two: buffers handed back for reuse then fit most logs. */
static HW_NOINLINE int hw_log_grow(hw_kernel *K, size_t need) {
    size_t cap = K->log_cap < 4096 ? 4096 : K->log_cap;
    while (cap < need) cap *= 2;
    uint8_t *log = realloc(K->log, cap);
    if (log == NULL) return -1;
    K->log = log;
    K->log_cap = cap;
    return 0;
}

/* Writes record r to the log; the log's length moves only once the whole
 * record is there (a worker's block may be cut short by SIGBUS, reader.h). */
static int hw_log_record(hw_kernel *K, const hw_rec *r) {
    size_t ml = r->method_len, sl = r->section_len, hl = r->host_len;
    size_t vl = K->with_vhost ? r->vhost_len : 0;
    size_t extra = (K->with_duration ? 8 : 0) + (K->with_vhost ? 4 : 0);
    /* a method is at most 20 bytes, a key at most a line (HW_MAX_LINE) */
    if (ml > UINT16_MAX || sl > UINT32_MAX || hl > UINT32_MAX || vl > UINT32_MAX) return -1;
    size_t need = K->log_n + HW_LOG_HEAD + extra + ml + sl + hl + vl;
    if (need > K->log_cap && hw_log_grow(K, need) < 0) return -1;
    uint8_t *o = K->log + K->log_n;
    const uint8_t *d = r->status;
    unsigned status = (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 +
                      (unsigned)(d[2] - '0');
    if (K->with_duration) status |= HW_LOG_DURATION;
    if (K->with_vhost) status |= HW_LOG_VHOST;
    hw_put_le(o, (uint64_t)r->ts, 8);
    hw_put_le(o + 8, status, 2);
    hw_put_le(o + 10, ml, 2);
    hw_put_le(o + 12, sl, 4);
    hw_put_le(o + 16, hl, 4);
    o += HW_LOG_HEAD;
    if (K->with_duration) {
        uint64_t bits = 0x7FF8000000000000ULL; /* NaN: none */
        if (r->has_duration) memcpy(&bits, &r->duration, 8);
        hw_put_le(o, bits, 8);
        o += 8;
    }
    if (K->with_vhost) {
        hw_put_le(o, vl, 4);
        o += 4;
    }
    memcpy(o, r->method, ml);
    memcpy(o + ml, r->section, sl);
    memcpy(o + ml + sl, r->host, hl);
    if (vl) memcpy(o + ml + sl + hl, r->vhost, vl);
    K->log_n = need;
    return 0;
}

/* Reading a log back (_kernel.c's records_columns; the fuzzer). */
typedef struct {
    int64_t ts;
    unsigned status; /* 100..599, without the flags */
    const uint8_t *method, *section, *host, *vhost;
    size_t method_len, section_len, host_len, vhost_len;
    int has_vhost;    /* HW_LOG_VHOST: the record has the vhost column */
    int dur_column;   /* HW_LOG_DURATION: the record has the duration column... */
    int has_duration; /* ...and a duration in it (not NaN) */
    double duration;
} hw_log_rec;

static inline uint64_t hw_get_le(const uint8_t *s, int n) {
    uint64_t v = 0;
#if HW_LITTLE
    memcpy(&v, s, (size_t)n);
#else
    for (int i = n - 1; i >= 0; i--) v = v << 8 | s[i];
#endif
    return v;
}

/* The record at *p of a log that ends at `end`: its fields, and *p moved
 * past it. 0, or -1 when the log is malformed there (cut short, a length
 * past its end, a status out of 100..599, an unknown flag); nothing outside
 * [*p, end) is read. */
static HW_ALWAYS_INLINE int hw_log_next(const uint8_t **p, const uint8_t *end, hw_log_rec *r) {
    const uint8_t *q = *p;
    if ((size_t)(end - q) < HW_LOG_HEAD) return -1;
    uint64_t ts = hw_get_le(q, 8);
    memcpy(&r->ts, &ts, 8); /* int64_t is two's complement: no conversion to define */
    unsigned status = (unsigned)hw_get_le(q + 8, 2);
    r->method_len = (size_t)hw_get_le(q + 10, 2);
    r->section_len = (size_t)hw_get_le(q + 12, 4);
    r->host_len = (size_t)hw_get_le(q + 16, 4);
    r->status = status & HW_LOG_STATUS;
    if (r->status < 100 || r->status > 599) return -1;
    if (status & ~(unsigned)(HW_LOG_STATUS | HW_LOG_DURATION | HW_LOG_VHOST)) return -1;
    q += HW_LOG_HEAD;
    size_t left = (size_t)(end - q); /* each length checked alone: no sum to overflow */
    r->dur_column = (status & HW_LOG_DURATION) != 0;
    r->has_duration = 0;
    r->duration = 0;
    if (r->dur_column) {
        if (left < 8) return -1;
        uint64_t bits = hw_get_le(q, 8);
        memcpy(&r->duration, &bits, 8);
        r->has_duration = r->duration == r->duration; /* not NaN */
        q += 8;
        left -= 8;
    }
    r->has_vhost = (status & HW_LOG_VHOST) != 0;
    r->vhost_len = 0;
    if (r->has_vhost) {
        if (left < 4) return -1;
        r->vhost_len = (size_t)hw_get_le(q, 4);
        q += 4;
        left -= 4;
    }
    if (r->method_len > left) return -1;
    left -= r->method_len;
    if (r->section_len > left) return -1;
    left -= r->section_len;
    if (r->host_len > left) return -1;
    left -= r->host_len;
    if (r->vhost_len > left) return -1;
    r->method = q;
    r->section = q + r->method_len;
    r->host = r->section + r->section_len;
    r->vhost = r->host + r->host_len;
    *p = r->vhost + r->vhost_len;
    return 0;
}

static int hw_count(hw_kernel *K, const hw_rec *r) {
    if (K->records && hw_log_record(K, r) < 0) return -1;
    if (hw_add_second(K, r->ts) < 0) return -1;
    hw_interval *iv = hw_iv_at(K, r->ts);
    if (iv == NULL) return -1;
    iv->hits++;
    uint64_t lo = iv->bytes_lo + (uint64_t)r->nbytes;
    iv->bytes_hi += lo < iv->bytes_lo;
    iv->bytes_lo = lo;
    iv->status[r->cls - 1]++;
    if (hw_add_key(iv, HW_SECTION, r->section, r->section_len) < 0) return -1;
    if (hw_add_key(iv, HW_HOST, r->host, r->host_len) < 0) return -1;
    if (hw_add_key(iv, HW_METHOD, r->method, r->method_len) < 0) return -1;
    if (K->with_vhost && hw_add_key(iv, HW_VHOST, r->vhost, r->vhost_len) < 0) return -1;
    if (K->with_duration && r->has_duration) { /* (set by describe.h only) */
        if (iv->durs_n == iv->durs_cap &&
            hw_grow((void **)&iv->durs, &iv->durs_cap, sizeof *iv->durs, iv->durs_n + 1) < 0)
            return -1;
        iv->durs[iv->durs_n++] = r->duration;
    }
    return 0;
}

/* The interval a late or invalid line read now belongs to (SPEC §3): the one
 * holding F + 1 (>= start >= 0). */
static inline hw_interval *hw_open_iv(hw_kernel *K) { return hw_iv_at(K, K->final + 1); }

static int hw_invalid_line(hw_kernel *K) {
    K->invalid++;
    if (!K->started) {
        K->pending_invalid++;
        return 0;
    }
    hw_interval *iv = hw_open_iv(K);
    if (iv == NULL) return -1;
    iv->invalid++;
    return 0;
}

/* Engine._feed_unstarted / _feed_started for one record. */
static int hw_record(hw_kernel *K, const hw_rec *r) {
    int64_t ts = r->ts;
    K->rows++;
    if (!K->started) {
        if (K->max_ts < 0 || ts < K->min_ts) K->min_ts = ts;
        if (ts > K->max_ts) K->max_ts = ts;
        if (hw_count(K, r) < 0) return -1;
        if (K->max_ts - K->lag >= K->min_ts) {
            K->started = 1;
            K->start = K->min_ts;
            K->final = K->max_ts - K->lag;
            if (K->pending_invalid) {
                hw_interval *iv = hw_iv_at(K, K->start);
                if (iv == NULL) return -1;
                iv->invalid += K->pending_invalid;
                K->pending_invalid = 0;
            }
        }
        return 0;
    }
    if (ts > K->max_ts) {
        K->max_ts = ts;
        if (ts - K->lag > K->final) K->final = ts - K->lag;
    } else if (ts <= K->final) {
        K->late++;
        int64_t behind = K->max_ts - ts;
        if (behind > K->max_late) K->max_late = behind;
        hw_interval *iv = hw_open_iv(K);
        if (iv == NULL) return -1;
        iv->late++;
        return 0;
    }
    return hw_count(K, r);
}

/* One line (without its \n). Returns -1 on out-of-memory. */
static int hw_line(hw_kernel *K, const uint8_t *p, size_t n, int64_t lineno) {
    if (n && p[n - 1] == '\r') n--;
    if (n == 0) {
        K->empty++;
        return 0;
    }
    int64_t nfields = 0;
    hw_rec r;
    int reason = hw_parse_k(K, p, n, &r, &nfields);
    if (reason == HW_HEADER) {
        K->headers++;
        return 0;
    }
    if (reason == HW_OK) return hw_record(K, &r);
    if (hw_invalid_line(K) < 0) return -1;
    return hw_bad(K, lineno, reason, nfields);
}

/* The next \n in [p, end), or NULL; [lo, end) may be read. Lines are short:
 * the SSE2 loop of parse.h beats a call of memchr (measured: 32 or 64 bytes
 * per step were no better), which stays for the portable build. */
static inline const uint8_t *hw_line_end(const uint8_t *lo, const uint8_t *p, const uint8_t *end) {
#if HW_SIMD
    return hw_find_end(lo, p, end, '\n');
#else
    (void)lo;
    return memchr(p, '\n', (size_t)(end - p));
#endif
}

/* The bytes of `data` up to and including its last newline: the whole lines
 * of a block read from a stream (the rest waits for the next block). */
static size_t hw_whole_lines(const uint8_t *data, size_t n) {
    while (n > 0 && data[n - 1] != '\n') n--;
    return n;
}

/* A block of whole lines, as decode_lines splits it: a final \n ends the last
 * line; without one, the rest is the last line. `first_lineno` numbers the
 * first line. Adds to the per-feed counts (see hw_counts_clear). */
static int hw_feed(hw_kernel *K, const uint8_t *data, size_t n, int64_t first_lineno) {
    if (n == 0) return 0;
    if (data[n - 1] == '\n') n--;
    const uint8_t *p = data, *end = data + n;
    int64_t lineno = first_lineno;
    for (;;) {
        const uint8_t *nl = hw_line_end(data, p, end);
        const uint8_t *stop = nl ? nl : end;
        if (hw_line(K, p, (size_t)(stop - p), lineno) < 0) return -1;
        lineno++;
        if (nl == NULL) break;
        p = nl + 1;
    }
    K->lines += lineno - first_lineno;
    return 0;
}

#endif
