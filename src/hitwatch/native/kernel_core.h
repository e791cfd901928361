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

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HW_MAX_LINE 65536
#define HW_MAX_TS 253402300799LL

enum hw_format { HW_CSV = 0, HW_CLF = 1 };

enum hw_reason {
    HW_OK = 0,
    HW_OVERLONG = 1,
    HW_CSV_QUOTING = 2,
    HW_CSV_FIELDS = 3,
    HW_BAD_DATE = 4,
    HW_BAD_STATUS = 5,
    HW_BAD_BYTES = 6,
    HW_NOT_CLF = 7,
    HW_BAD_TIMESTAMP = 8,
};

enum hw_kind { HW_SECTION = 0, HW_HOST = 1, HW_METHOD = 2 };

static const uint8_t HW_OTHER[] = "(other)";
#define HW_OTHER_LEN 7

static const char HW_HEADER_Q[] =
    "\"remotehost\",\"rfc931\",\"authuser\",\"date\",\"request\",\"status\",\"bytes\"";
static const char HW_HEADER_U[] = "remotehost,rfc931,authuser,date,request,status,bytes";

/* One parsed record; the key pointers point into the line or the scratch. */
typedef struct {
    int64_t ts;
    int64_t nbytes;
    int cls; /* 1..5 */
    const uint8_t *host;
    size_t host_len;
    const uint8_t *method;
    size_t method_len;
    const uint8_t *section;
    size_t section_len;
} hw_rec;

/* ------------------------------------------------------------ parsing */

/* memchr for the short spans inside a line: a call costs more than the scan. */
static inline const uint8_t *hw_find(const uint8_t *p, const uint8_t *end, uint8_t c) {
    while (p < end) {
        if (*p == c) return p;
        p++;
    }
    return NULL;
}

static inline int hw_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static inline int hw_alpha(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* parse_bytes: "-" is 0; 1-15 ASCII digits; else -1. */
static inline int64_t hw_parse_size(const uint8_t *s, size_t n) {
    if (n == 1 && s[0] == '-') return 0;
    if (n == 0 || n > 15) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!hw_digit(s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* STATUS_CLASS: exactly [1-5][0-9][0-9]; returns the class or 0. */
static inline int hw_status_class(const uint8_t *s, size_t n) {
    if (n != 3 || s[0] < '1' || s[0] > '5' || !hw_digit(s[1]) || !hw_digit(s[2])) return 0;
    return s[0] - '0';
}

/* csv.parse_ts: 1-12 ASCII digits, <= MAX_TS; else -1. */
static inline int64_t hw_parse_epoch(const uint8_t *s, size_t n) {
    if (n == 0 || n > 12) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!hw_digit(s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= HW_MAX_TS ? v : -1;
}

static int64_t hw_days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static const char HW_MONTHS[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const int HW_DAYS[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

#define HW_D2(p) (((p)[0] - '0') * 10 + ((p)[1] - '0'))

/* clf.parse_time: `10/Oct/2000:13:55:36 -0700` -> Unix seconds, or -1. */
static int64_t hw_parse_time(const uint8_t *s, size_t n) {
    if (n != 26) return -1;
    static const int digits[] = {0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25};
    for (size_t i = 0; i < sizeof digits / sizeof digits[0]; i++)
        if (!hw_digit(s[digits[i]])) return -1;
    if (s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ')
        return -1;
    if (s[21] != '+' && s[21] != '-') return -1;
    if (!(s[3] >= 'A' && s[3] <= 'Z') || !(s[4] >= 'a' && s[4] <= 'z') ||
        !(s[5] >= 'a' && s[5] <= 'z'))
        return -1;
    int month = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 3, HW_MONTHS[i], 3) == 0) {
            month = i + 1;
            break;
        }
    int64_t d = HW_D2(s), y = HW_D2(s + 7) * 100 + HW_D2(s + 9);
    int64_t h = HW_D2(s + 12), mi = HW_D2(s + 15), sec = HW_D2(s + 18);
    int64_t oh = HW_D2(s + 22), om = HW_D2(s + 24);
    if (!month || d < 1 || d > HW_DAYS[month] || h > 23 || mi > 59 || sec > 59) return -1;
    if (month == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return -1;
    if (oh > 23 || om > 59 || y < 1970) return -1;
    int64_t offset = (oh * 3600 + om * 60) * (s[21] == '-' ? -1 : 1);
    int64_t ts = hw_days_from_civil(y, month, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    return ts >= 0 && ts <= HW_MAX_TS ? ts : -1;
}

/* section_of on bytes (the target is never percent-decoded). */
static void hw_section_of(const uint8_t *t, size_t n, hw_rec *r) {
    /* Query and fragment first: the authority ends at `?` or `#` too. */
    for (size_t i = 0; i < n; i++)
        if (t[i] == '?' || t[i] == '#') {
            n = i;
            break;
        }
    if (n > 0 && hw_alpha(t[0])) {
        size_t j = 1;
        while (j < n && (hw_alpha(t[j]) || hw_digit(t[j]) || t[j] == '+' || t[j] == '.' ||
                         t[j] == '-'))
            j++;
        if (j + 3 <= n && t[j] == ':' && t[j + 1] == '/' && t[j + 2] == '/') {
            const uint8_t *slash = hw_find(t + j + 3, t + n, '/');
            if (slash == NULL) {
                n = 0;
            } else {
                n -= (size_t)(slash - t);
                t = slash;
            }
        }
    }
    if (n == 0 || t[0] != '/') {
        r->section = HW_OTHER;
        r->section_len = HW_OTHER_LEN;
        return;
    }
    const uint8_t *end = hw_find(t + 1, t + n, '/');
    r->section = t;
    if (end == NULL)
        r->section_len = n;
    else
        r->section_len = end > t + 1 ? (size_t)(end - t) : 1;
}

/* request_parts: split on single spaces; 2 or 3 parts with a non-empty first. */
static void hw_request(const uint8_t *q, size_t n, hw_rec *r) {
    const uint8_t *s1 = hw_find(q, q + n, ' ');
    if (s1 == NULL || s1 == q) goto other;
    const uint8_t *rest = s1 + 1, *end = q + n;
    const uint8_t *s2 = hw_find(rest, end, ' ');
    const uint8_t *tend = end;
    if (s2 != NULL) {
        if (hw_find(s2 + 1, end, ' ') != NULL) goto other;
        tend = s2;
    }
    r->method = q;
    r->method_len = (size_t)(s1 - q);
    hw_section_of(rest, (size_t)(tend - rest), r);
    return;
other:
    r->method = r->section = HW_OTHER;
    r->method_len = r->section_len = HW_OTHER_LEN;
}

/* Copies a quoted CSV field's text, turning "" into ", into out. */
static size_t hw_unescape(const uint8_t *s, size_t n, uint8_t *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        out[o++] = s[i];
        if (s[i] == '"') i++; /* the second quote of a pair */
    }
    return o;
}

/* CsvFormat.parse_line on bytes. `scratch` holds >= 2 * n bytes. */
static int hw_parse_csv(const uint8_t *p, size_t n, hw_rec *r, uint8_t *scratch,
                        int64_t *nfields) {
    const uint8_t *fs[7];
    size_t fl[7];
    int fe[7];
    int64_t count = 0;
    size_t i = 0;
    for (;;) {
        if (i < n && p[i] == '"') {
            size_t start = ++i;
            int esc = 0;
            size_t stop;
            for (;;) {
                const uint8_t *q = hw_find(p + i, p + n, '"');
                if (q == NULL) return HW_CSV_QUOTING;
                size_t at = (size_t)(q - p);
                if (at + 1 < n && p[at + 1] == '"') {
                    esc = 1;
                    i = at + 2;
                    continue;
                }
                stop = at;
                i = at + 1;
                break;
            }
            if (count < 7) {
                fs[count] = p + start;
                fl[count] = stop - start;
                fe[count] = esc;
            }
            count++;
            if (i == n) break;
            if (p[i] != ',') return HW_CSV_QUOTING;
            i++;
        } else {
            const uint8_t *c = hw_find(p + i, p + n, ',');
            size_t stop = c == NULL ? n : (size_t)(c - p);
            if (count < 7) {
                fs[count] = p + i;
                fl[count] = stop - i;
                fe[count] = 0;
            }
            count++;
            if (c == NULL) break;
            i = stop + 1;
        }
    }
    if (count != 7) {
        *nfields = count;
        return HW_CSV_FIELDS;
    }
    /* A field holding an escaped quote is never digits. */
    int64_t ts = fe[3] ? -1 : hw_parse_epoch(fs[3], fl[3]);
    if (ts < 0) return HW_BAD_DATE;
    int cls = fe[5] ? 0 : hw_status_class(fs[5], fl[5]);
    if (!cls) return HW_BAD_STATUS;
    int64_t size = fe[6] ? -1 : hw_parse_size(fs[6], fl[6]);
    if (size < 0) return HW_BAD_BYTES;
    r->ts = ts;
    r->cls = cls;
    r->nbytes = size;
    if (fe[0]) {
        r->host = scratch;
        r->host_len = hw_unescape(fs[0], fl[0], scratch);
        scratch += fl[0];
    } else {
        r->host = fs[0];
        r->host_len = fl[0];
    }
    if (fe[4]) {
        size_t len = hw_unescape(fs[4], fl[4], scratch);
        hw_request(scratch, len, r);
    } else {
        hw_request(fs[4], fl[4], r);
    }
    return HW_OK;
}

/* ClfFormat.parse_line on bytes: the _LINE regex, then the field checks. */
static inline int hw_eq26(const uint8_t *a, const uint8_t *b) {
    uint64_t x[4], y[4];
    memcpy(x, a, 24);
    memcpy(y, b, 24);
    return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && a[24] == b[24] && a[25] == b[25];
}

typedef struct {
    uint8_t stamp[26];
    int64_t ts; /* -2: empty */
} hw_stamp_cache;

static int hw_parse_clf(const uint8_t *p, size_t n, hw_rec *r, hw_stamp_cache *cache) {
    const uint8_t *end = p + n;
    /* ([^ ]+) [^ ]+ [^ ]+ \[ */
    const uint8_t *a = p, *sp;
    sp = hw_find(a, end, ' ');
    if (sp == NULL || sp == a) return HW_NOT_CLF;
    const uint8_t *host = a;
    size_t host_len = (size_t)(sp - a);
    for (int f = 0; f < 2; f++) {
        a = sp + 1;
        sp = hw_find(a, end, ' ');
        if (sp == NULL || sp == a) return HW_NOT_CLF;
    }
    if (sp + 1 >= end || sp[1] != '[') return HW_NOT_CLF;
    const uint8_t *stamp = sp + 2;
    const uint8_t *close = hw_find(stamp, end, ']');
    if (close == NULL || end - close < 3 || close[1] != ' ' || close[2] != '"') return HW_NOT_CLF;
    /* "([^"\\]*(?:\\.[^"\\]*)*)" */
    const uint8_t *req = close + 3, *q = req;
    for (;;) {
        if (q >= end) return HW_NOT_CLF;
        uint8_t c = *q;
        if (c == '"') break;
        if (c == '\\') {
            if (q + 1 >= end) return HW_NOT_CLF;
            q += 2;
        } else {
            q++;
        }
    }
    const uint8_t *req_end = q;
    /* ' ([^ ]+) ([^ ]+)(?= |\Z)' */
    if (q + 1 >= end || q[1] != ' ') return HW_NOT_CLF;
    const uint8_t *status = q + 2;
    sp = hw_find(status, end, ' ');
    if (sp == NULL || sp == status) return HW_NOT_CLF;
    size_t status_len = (size_t)(sp - status);
    const uint8_t *size = sp + 1;
    const uint8_t *size_end = hw_find(size, end, ' ');
    if (size_end == NULL) size_end = end;
    if (size_end == size) return HW_NOT_CLF;

    int64_t ts;
    size_t stamp_len = (size_t)(close - stamp);
    if (stamp_len == 26 && cache->ts != -2 && hw_eq26(cache->stamp, stamp)) {
        ts = cache->ts;
    } else {
        ts = hw_parse_time(stamp, stamp_len);
        if (stamp_len == 26) {
            memcpy(cache->stamp, stamp, 26);
            cache->ts = ts;
        }
    }
    if (ts < 0) return HW_BAD_TIMESTAMP;
    int cls = hw_status_class(status, status_len);
    if (!cls) return HW_BAD_STATUS;
    int64_t nbytes = hw_parse_size(size, (size_t)(size_end - size));
    if (nbytes < 0) return HW_BAD_BYTES;
    r->ts = ts;
    r->cls = cls;
    r->nbytes = nbytes;
    r->host = host;
    r->host_len = host_len;
    hw_request(req, (size_t)(req_end - req), r);
    return HW_OK;
}

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

static int hw_is_header(const uint8_t *p, size_t n) {
    return (n == sizeof HW_HEADER_Q - 1 && memcmp(p, HW_HEADER_Q, n) == 0) ||
           (n == sizeof HW_HEADER_U - 1 && memcmp(p, HW_HEADER_U, n) == 0);
}

/* One line (without its \n). Returns -1 on out-of-memory. */
static int hw_line(hw_kernel *K, const uint8_t *p, size_t n, int64_t lineno) {
    if (n && p[n - 1] == '\r') n--;
    if (n == 0) {
        K->empty++;
        return 0;
    }
    int reason;
    int64_t nfields = 0;
    hw_rec r;
    if (n > HW_MAX_LINE) {
        reason = HW_OVERLONG;
    } else if (K->format == HW_CLF) {
        reason = hw_parse_clf(p, n, &r, &K->stamps);
        if (reason == HW_NOT_CLF && hw_is_header(p, n)) {
            K->headers++;
            return 0;
        }
    } else {
        if ((p[0] == '"' || p[0] == 'r') && hw_is_header(p, n)) {
            K->headers++;
            return 0;
        }
        reason = hw_parse_csv(p, n, &r, K->scratch, &nfields);
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
