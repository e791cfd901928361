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
 * SPEC §2-3) runs here per record; what it aggregates (hits per second,
 * per-interval counts keyed by raw bytes) is handed to Python after each
 * block, and the tables are then emptied, so memory is bounded by one block.
 */
#ifndef HITWATCH_KERNEL_CORE_H
#define HITWATCH_KERNEL_CORE_H

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

static inline uint64_t hw_hash(const uint8_t *p, size_t n, uint64_t seed) {
    uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, n);
    h = (h ^ v) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
    return hw_mix(h);
}

/* Per-interval counts of one block. */
typedef struct {
    int64_t k;
    int64_t hits;
    uint64_t bytes_lo, bytes_hi; /* 128-bit sum: 15-digit sizes add up */
    int64_t late, invalid;
    int64_t status[5];
    int used;
} hw_interval;

typedef struct {
    uint64_t hash;
    int64_t k;
    uint64_t w0, w1; /* the first 16 bytes of the key, zero-padded: most keys fit */
    int64_t count;
    size_t off; /* key bytes in the arena */
    uint32_t len;
    uint32_t kind; /* hw_kind; UINT32_MAX marks an empty slot */
} hw_key;

typedef struct {
    int64_t ts;
    int64_t hits;
} hw_second;

typedef struct {
    int64_t lineno;
    int64_t nfields;
    int reason;
} hw_invalid;

typedef struct {
    /* options */
    int format;
    int64_t interval, lag;
    uint64_t seed;
    /* time state (SPEC §2), synced with the Python engine around each block */
    int started;
    int64_t start, final, max_ts, min_ts, pending_invalid;
    /* counts of the current block */
    int64_t rows, late, invalid, headers, empty, lines, max_late;
    /* tables of the current block */
    hw_interval *ivs;
    size_t ivs_cap, ivs_n;
    hw_key *keys;
    size_t keys_cap, keys_n;
    hw_second *secs;
    size_t secs_cap, secs_n;
    uint8_t *arena;
    size_t arena_cap, arena_n;
    hw_invalid *bad;
    size_t bad_cap, bad_n;
    uint8_t *scratch;
    /* one-entry caches: consecutive lines mostly share them */
    int64_t last_k;
    hw_interval *last_iv;
    int64_t last_ts;
    hw_second *last_sec;
    hw_stamp_cache stamps;
    int64_t seed_k;
    uint64_t kseed;
    int oom;
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

/* Open-addressing tables, emptied with memset after each block. */
static void hw_tables_clear(hw_kernel *K) {
    if (K->ivs) memset(K->ivs, 0, K->ivs_cap * sizeof *K->ivs);
    if (K->secs) {
        for (size_t i = 0; i < K->secs_cap; i++) K->secs[i].ts = -1;
    }
    if (K->keys) {
        for (size_t i = 0; i < K->keys_cap; i++) K->keys[i].kind = UINT32_MAX;
    }
    K->ivs_n = K->keys_n = K->secs_n = K->arena_n = K->bad_n = 0;
    K->last_iv = NULL;
    K->last_sec = NULL;
    K->last_k = -1;
    K->last_ts = -1;
    K->seed_k = -1;
    K->kseed = 0;
    K->rows = K->late = K->invalid = K->headers = K->empty = K->lines = K->max_late = 0;
}

static int hw_init(hw_kernel *K, int format, int64_t interval, int64_t lateness, uint64_t seed) {
    memset(K, 0, sizeof *K);
    K->format = format;
    K->interval = interval;
    K->lag = lateness + 1;
    K->seed = seed;
    K->max_ts = -1;
    K->stamps.ts = -2;
    K->ivs_cap = 64;
    K->keys_cap = 1024;
    K->secs_cap = 1024;
    K->arena_cap = 1 << 16;
    K->ivs = calloc(K->ivs_cap, sizeof *K->ivs);
    K->keys = malloc(K->keys_cap * sizeof *K->keys);
    K->secs = malloc(K->secs_cap * sizeof *K->secs);
    K->arena = malloc(K->arena_cap);
    K->scratch = malloc(2 * HW_MAX_LINE + 64);
    if (!K->ivs || !K->keys || !K->secs || !K->arena || !K->scratch) return -1;
    hw_tables_clear(K);
    return 0;
}

static void hw_free(hw_kernel *K) {
    free(K->ivs);
    free(K->keys);
    free(K->secs);
    free(K->arena);
    free(K->bad);
    free(K->scratch);
    memset(K, 0, sizeof *K);
}

static int hw_rehash_ivs(hw_kernel *K) {
    size_t cap = K->ivs_cap * 2;
    hw_interval *n = calloc(cap, sizeof *n);
    if (n == NULL) return -1;
    for (size_t i = 0; i < K->ivs_cap; i++) {
        if (!K->ivs[i].used) continue;
        size_t j = hw_mix((uint64_t)K->ivs[i].k) & (cap - 1);
        while (n[j].used) j = (j + 1) & (cap - 1);
        n[j] = K->ivs[i];
    }
    free(K->ivs);
    K->ivs = n;
    K->ivs_cap = cap;
    K->last_iv = NULL;
    K->last_k = -1;
    return 0;
}

static hw_interval *hw_iv(hw_kernel *K, int64_t k) {
    if (k == K->last_k && K->last_iv) return K->last_iv;
    if ((K->ivs_n + 1) * 2 > K->ivs_cap && hw_rehash_ivs(K) < 0) return NULL;
    size_t mask = K->ivs_cap - 1, j = hw_mix((uint64_t)k) & mask;
    while (K->ivs[j].used && K->ivs[j].k != k) j = (j + 1) & mask;
    hw_interval *iv = &K->ivs[j];
    if (!iv->used) {
        iv->used = 1;
        iv->k = k;
        K->ivs_n++;
    }
    K->last_k = k;
    K->last_iv = iv;
    return iv;
}

static int hw_rehash_secs(hw_kernel *K) {
    size_t cap = K->secs_cap * 2;
    hw_second *n = malloc(cap * sizeof *n);
    if (n == NULL) return -1;
    for (size_t i = 0; i < cap; i++) n[i].ts = -1;
    for (size_t i = 0; i < K->secs_cap; i++) {
        if (K->secs[i].ts < 0) continue;
        size_t j = hw_mix((uint64_t)K->secs[i].ts) & (cap - 1);
        while (n[j].ts >= 0) j = (j + 1) & (cap - 1);
        n[j] = K->secs[i];
    }
    free(K->secs);
    K->secs = n;
    K->secs_cap = cap;
    K->last_sec = NULL;
    K->last_ts = -1;
    return 0;
}

static int hw_add_second(hw_kernel *K, int64_t ts) {
    if (ts == K->last_ts && K->last_sec) {
        K->last_sec->hits++;
        return 0;
    }
    if ((K->secs_n + 1) * 2 > K->secs_cap && hw_rehash_secs(K) < 0) return -1;
    size_t mask = K->secs_cap - 1, j = hw_mix((uint64_t)ts) & mask;
    while (K->secs[j].ts >= 0 && K->secs[j].ts != ts) j = (j + 1) & mask;
    hw_second *s = &K->secs[j];
    if (s->ts < 0) {
        s->ts = ts;
        s->hits = 0;
        K->secs_n++;
    }
    s->hits++;
    K->last_ts = ts;
    K->last_sec = s;
    return 0;
}

static int hw_rehash_keys(hw_kernel *K) {
    size_t cap = K->keys_cap * 2;
    hw_key *n = malloc(cap * sizeof *n);
    if (n == NULL) return -1;
    for (size_t i = 0; i < cap; i++) n[i].kind = UINT32_MAX;
    for (size_t i = 0; i < K->keys_cap; i++) {
        if (K->keys[i].kind == UINT32_MAX) continue;
        size_t j = K->keys[i].hash & (cap - 1);
        while (n[j].kind != UINT32_MAX) j = (j + 1) & (cap - 1);
        n[j] = K->keys[i];
    }
    free(K->keys);
    K->keys = n;
    K->keys_cap = cap;
    return 0;
}

static int hw_add_key(hw_kernel *K, int64_t k, uint64_t kseed, uint32_t kind,
                      const uint8_t *s, size_t n) {
    uint64_t w0 = 0, w1 = 0, h;
    if (n <= 16) {
        if (n <= 8) {
            memcpy(&w0, s, n);
        } else {
            memcpy(&w0, s, 8);
            memcpy(&w1, s + 8, n - 8);
        }
        h = hw_mix((w0 ^ kseed ^ ((uint64_t)n << 56) ^ kind) * 0x9E3779B97F4A7C15ULL + w1);
    } else {
        memcpy(&w0, s, 8);
        memcpy(&w1, s + 8, 8);
        h = hw_hash(s, n, kseed ^ kind);
    }
    if ((K->keys_n + 1) * 2 > K->keys_cap && hw_rehash_keys(K) < 0) return -1;
    size_t mask = K->keys_cap - 1, j = h & mask;
    for (;;) {
        hw_key *e = &K->keys[j];
        if (e->kind == UINT32_MAX) {
            if (hw_grow((void **)&K->arena, &K->arena_cap, 1, K->arena_n + n + 1) < 0) return -1;
            memcpy(K->arena + K->arena_n, s, n);
            e->hash = h;
            e->k = k;
            e->w0 = w0;
            e->w1 = w1;
            e->count = 1;
            e->off = K->arena_n;
            e->len = (uint32_t)n;
            e->kind = kind;
            K->arena_n += n;
            K->keys_n++;
            return 0;
        }
        if (e->hash == h && e->w0 == w0 && e->w1 == w1 && e->k == k && e->kind == kind &&
            e->len == n && (n <= 16 || memcmp(K->arena + e->off + 16, s + 16, n - 16) == 0)) {
            e->count++;
            return 0;
        }
        j = (j + 1) & mask;
    }
}

static int hw_bad(hw_kernel *K, int64_t lineno, int reason, int64_t nfields) {
    if (hw_grow((void **)&K->bad, &K->bad_cap, sizeof *K->bad, K->bad_n + 1) < 0) return -1;
    K->bad[K->bad_n].lineno = lineno;
    K->bad[K->bad_n].reason = reason;
    K->bad[K->bad_n].nfields = nfields;
    K->bad_n++;
    return 0;
}

/* ------------------------------------------------------------- engine */

static int hw_count(hw_kernel *K, const hw_rec *r) {
    if (hw_add_second(K, r->ts) < 0) return -1;
    int64_t k = r->ts / K->interval;
    hw_interval *iv = hw_iv(K, k);
    if (iv == NULL) return -1;
    iv->hits++;
    uint64_t lo = iv->bytes_lo + (uint64_t)r->nbytes;
    iv->bytes_hi += lo < iv->bytes_lo;
    iv->bytes_lo = lo;
    iv->status[r->cls - 1]++;
    if (k != K->seed_k) {
        K->seed_k = k;
        K->kseed = K->seed ^ hw_mix((uint64_t)k);
    }
    uint64_t kseed = K->kseed;
    if (hw_add_key(K, k, kseed, HW_SECTION, r->section, r->section_len) < 0) return -1;
    if (hw_add_key(K, k, kseed, HW_HOST, r->host, r->host_len) < 0) return -1;
    if (hw_add_key(K, k, kseed, HW_METHOD, r->method, r->method_len) < 0) return -1;
    return 0;
}

/* The interval a late or invalid line read now belongs to (SPEC §3). */
static inline int64_t hw_open_k(const hw_kernel *K) { return (K->final + 1) / K->interval; }

static int hw_invalid_line(hw_kernel *K) {
    K->invalid++;
    if (!K->started) {
        K->pending_invalid++;
        return 0;
    }
    hw_interval *iv = hw_iv(K, hw_open_k(K));
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
                hw_interval *iv = hw_iv(K, K->start / K->interval);
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
        hw_interval *iv = hw_iv(K, hw_open_k(K));
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
    int reason = hw_parse_line(K->format, p, n, &r, K->scratch, &K->stamps, &nfields);
    if (reason == HW_HEADER) {
        K->headers++;
        return 0;
    }
    if (reason == HW_OK) return hw_record(K, &r);
    if (hw_invalid_line(K) < 0) return -1;
    return hw_bad(K, lineno, reason, nfields);
}

/* A block of whole lines, as decode_lines splits it: a final \n ends the last
 * line; without one, the rest is the last line. `first_lineno` numbers the
 * first line. The tables must have been emptied (hw_tables_clear). */
static int hw_feed(hw_kernel *K, const uint8_t *data, size_t n, int64_t first_lineno) {
    if (n == 0) return 0;
    if (data[n - 1] == '\n') n--;
    const uint8_t *p = data, *end = data + n;
    int64_t lineno = first_lineno;
    for (;;) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *stop = nl ? nl : end;
        if (hw_line(K, p, (size_t)(stop - p), lineno) < 0) {
            K->oom = 1;
            return -1;
        }
        lineno++;
        if (nl == NULL) break;
        p = nl + 1;
    }
    K->lines += lineno - first_lineno;
    return 0;
}

#endif
