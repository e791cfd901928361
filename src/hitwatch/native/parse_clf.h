/* hitwatch native kernel: a CLF line (ClfFormat.parse_line) on bytes,
 * with its per-minute timestamp cache. Included by parse.h. */
#ifndef HITWATCH_PARSE_CLF_H
#define HITWATCH_PARSE_CLF_H

/* The last 26-byte timestamp seen and its time at second 0 (hw_stamp_base).
 * Its bytes never hold a `]`: only a whole [^\]]* match is stored. */
typedef struct {
    uint8_t stamp[26];
    int64_t ts; /* -2: empty (hw_init); else any other value */
    int64_t base;
} hw_stamp_cache;

/* a and b agree but maybe on the seconds (bytes 18 and 19). */
static inline int hw_same_minute(const uint8_t *a, const uint8_t *b) {
    /* Bytes 18..25 with 18 and 19 cleared, whatever the byte order. */
    static const uint8_t keep[8] = {0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint64_t mask = hw_load64(keep);
    return hw_load64(a) == hw_load64(b) && hw_load64(a + 8) == hw_load64(b + 8) &&
           hw_load64(a + 10) == hw_load64(b + 10) &&
           ((hw_load64(a + 18) ^ hw_load64(b + 18)) & mask) == 0;
}

/* ClfFormat.parse_line on bytes: the _LINE regex, then the field checks. */
static int hw_parse_clf(const uint8_t *p, size_t n, hw_rec *r, hw_stamp_cache *cache) {
    const uint8_t *end = p + n;
    /* ([^ ]+) [^ ]+ [^ ]+ \[ */
    const uint8_t *sp = NULL;
    size_t host_len = 0;
#if HW_SIMD
    /* Host, ident and user mostly fit in the first 16 bytes: one load. */
    if (n >= 16) {
        unsigned m1 = hw_eq(hw_load16(p), ' '), m2 = m1 & (m1 - 1), m3 = m2 & (m2 - 1);
        if (m3) {
            size_t s1 = (size_t)__builtin_ctz(m1), s2 = (size_t)__builtin_ctz(m2),
                   s3 = (size_t)__builtin_ctz(m3);
            if (s1 == 0 || s2 == s1 + 1 || s3 == s2 + 1) return HW_NOT_CLF;
            host_len = s1;
            sp = p + s3;
        }
    }
#endif
    if (sp == NULL) {
        const uint8_t *a = p;
        sp = hw_find_end(p, a, end, ' ');
        if (sp == NULL || sp == a) return HW_NOT_CLF;
        host_len = (size_t)(sp - a);
        for (int f = 0; f < 2; f++) {
            a = sp + 1;
            sp = hw_find_end(p, a, end, ' ');
            if (sp == NULL || sp == a) return HW_NOT_CLF;
        }
    }
    if (end - sp < 2 || sp[1] != '[') return HW_NOT_CLF;
    const uint8_t *stamp = sp + 2;
    const uint8_t *close;
    int64_t ts;
    /* Most stamps share their minute with the previous one. The cached stamp
     * has no `]`, so one that matches it and has `]` right after is a whole
     * [^\]]* match, with no search. */
    if (end - stamp > 26 && stamp[26] == ']' && cache->ts != -2 && stamp[18] != ']' &&
        stamp[19] != ']' && hw_same_minute(stamp, cache->stamp)) {
        close = stamp + 26;
        ts = hw_stamp_ts(cache->base, stamp);
    } else {
        close = hw_find_end(p, stamp, end, ']');
        if (close == NULL) return HW_NOT_CLF;
        if (close - stamp == 26) {
            memcpy(cache->stamp, stamp, 26);
            cache->base = hw_stamp_base(stamp);
            cache->ts = 0;
            ts = hw_stamp_ts(cache->base, stamp);
        } else {
            ts = -1;
        }
    }
    if (end - close < 3 || close[1] != ' ' || close[2] != '"') return HW_NOT_CLF;
    /* "([^"\\]*(?:\\.[^"\\]*)*)" */
    const uint8_t *req = close + 3, *q = NULL;
#if HW_SIMD
    /* A short request without escapes: its end and its bits in one pass. */
    hw_rbits rb = {0, 0, 0};
    if (n >= 16) {
        for (size_t k = 0; k < 64 && k < (size_t)(end - req); k += 16) {
            unsigned e = hw_rbits_add(&rb, req, k, end);
            if (e) {
                size_t len = k + (size_t)__builtin_ctz(e);
                if (req[len] == '"') q = req + len;
                break;
            }
        }
    }
#endif
    int fast = q != NULL;
    if (!fast) {
        for (q = req;;) {
            q = hw_find2(p, q, end, end, '"', '\\');
            if (q == NULL) return HW_NOT_CLF;
            if (*q == '"') break;
            if (end - q < 2) return HW_NOT_CLF;
            q += 2; /* the escaped byte, whatever it is */
        }
    }
    const uint8_t *req_end = q;
    /* ' ([^ ]+) ([^ ]+)(?= |\Z)' */
    if (end - q < 2 || q[1] != ' ') return HW_NOT_CLF;
    const uint8_t *status = q + 2;
    sp = hw_find_end(p, status, end, ' ');
    if (sp == NULL || sp == status) return HW_NOT_CLF;
    size_t status_len = (size_t)(sp - status);
    const uint8_t *size = sp + 1;
    const uint8_t *size_end = hw_find_end(p, size, end, ' ');
    if (size_end == NULL) size_end = end;
    if (size_end == size) return HW_NOT_CLF;
    r->tail = size_end;

    if (ts < 0) return HW_BAD_TIMESTAMP;
    int cls = hw_status_class(status, status_len);
    if (!cls) return HW_BAD_STATUS;
    int64_t nbytes = hw_parse_size(p, size, (size_t)(size_end - size));
    if (nbytes < 0) return HW_BAD_BYTES;
    r->ts = ts;
    r->cls = cls;
    r->status = status;
    r->nbytes = nbytes;
    r->host = p;
    r->host_len = host_len;
    size_t len = (size_t)(req_end - req);
#if HW_SIMD
    if (fast) {
        uint64_t keep = (1ULL << len) - 1;
        rb.sp &= keep;
        rb.qh &= keep;
        rb.sl &= keep;
        hw_request_bits(p, req, len, end, &rb, r);
        return HW_OK;
    }
#endif
    hw_request_in(p, req, len, end, r);
    return HW_OK;
}

#endif
