/* hitwatch native kernel: the tallies: hits per second not final yet,
 * each open interval's table of keys and their counts (and merging
 * two of them), the list of invalid lines. Included by kernel_core.h. */
#ifndef HITWATCH_KERNEL_TALLY_H
#define HITWATCH_KERNEL_TALLY_H

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

#endif
