/* hitwatch native kernel: a CSV line (CsvFormat.parse_line) on bytes, its
 * fields split by the sequential walk or, when plain, by bits (SSE2).
 * Included by parse.h. */
#ifndef HITWATCH_PARSE_CSV_H
#define HITWATCH_PARSE_CSV_H

/* Copies a quoted CSV field's text, turning "" into ", into out. */
static size_t hw_unescape(const uint8_t *s, size_t n, uint8_t *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        out[o++] = s[i];
        if (s[i] == '"') i++; /* the second quote of a pair */
    }
    return o;
}

#if HW_SIMD
/* Every bit i that follows an odd number of set bits at or before i. */
static inline uint64_t hw_prefix_xor(uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* The fields of a CSV line of 16..128 bytes at once, when its quoting is
 * plain: every field either holds no `"`, or is `"` text `"` with no `"` in
 * the text. Then the commas that split fields are exactly those after an even
 * number of quotes; conversely, given those commas, the line is plain when
 * every quote sits at the first or last byte of a field and the quotes are
 * even in number (the first field with a lone quote would either flip the
 * parity at the comma that ends it, so that the comma would not split, or be
 * the last field and leave the count odd). On a plain line split_fields gives
 * these fields, none of them escaped. Returns 0 when the line is not plain or
 * has other than 7 fields: the sequential walk then decides. */
static int hw_csv_plain(const uint8_t *p, size_t n, const uint8_t *fs[7], size_t fl[7]) {
    uint64_t q0 = 0, q1 = 0, c0 = 0, c1 = 0;
    size_t k = 0;
    for (; k + 16 <= n && k < 64; k += 16) {
        __m128i v = hw_load16(p + k);
        q0 |= (uint64_t)hw_eq(v, '"') << k;
        c0 |= (uint64_t)hw_eq(v, ',') << k;
    }
    for (; k + 16 <= n; k += 16) {
        __m128i v = hw_load16(p + k);
        q1 |= (uint64_t)hw_eq(v, '"') << (k - 64);
        c1 |= (uint64_t)hw_eq(v, ',') << (k - 64);
    }
    if (k < n) { /* the last 16 bytes: bits set twice are the same */
        size_t s = n - 16;
        __m128i v = hw_load16(p + s);
        uint64_t mq = hw_eq(v, '"'), mc = hw_eq(v, ',');
        if (s < 64) {
            q0 |= mq << s;
            c0 |= mc << s;
            if (s > 48) {
                q1 |= mq >> (64 - s);
                c1 |= mc >> (64 - s);
            }
        } else {
            q1 |= mq << (s - 64);
            c1 |= mc << (s - 64);
        }
    }
    uint64_t in0 = hw_prefix_xor(q0);
    uint64_t in1 = hw_prefix_xor(q1) ^ (0 - (in0 >> 63));
    if (in1 >> 63) return 0; /* an odd number of quotes */
    uint64_t s0 = c0 & ~in0, s1 = c1 & ~in1;
    /* Field starts (after each split, and 0) and last bytes (before each
     * split, and n - 1): the only places a quote may be. */
    uint64_t st0 = (s0 << 1) | 1, st1 = (s1 << 1) | (s0 >> 63);
    uint64_t la0 = (s0 >> 1) | (s1 << 63), la1 = s1 >> 1;
    if (n - 1 < 64)
        la0 |= 1ULL << (n - 1);
    else
        la1 |= 1ULL << (n - 65);
    if ((q0 & ~(st0 | la0)) | (q1 & ~(st1 | la1))) return 0;
    size_t sep[7], f = 0;
    for (uint64_t w = s0; w; w &= w - 1) {
        if (f == 6) return 0;
        sep[f++] = (size_t)__builtin_ctzll(w);
    }
    for (uint64_t w = s1; w; w &= w - 1) {
        if (f == 6) return 0;
        sep[f++] = 64 + (size_t)__builtin_ctzll(w);
    }
    if (f != 6) return 0;
    sep[6] = n;
    /* Only the fields that are read; a quote at the start has its pair at the
     * last byte. */
    static const uint8_t used[] = {0, 3, 4, 5, 6};
    for (size_t u = 0; u < sizeof used; u++) {
        f = used[u];
        size_t start = f ? sep[f - 1] + 1 : 0, stop = sep[f];
        size_t quoted = start < n && p[start] == '"';
        fs[f] = p + start + quoted;
        fl[f] = stop - start - 2 * quoted;
    }
    return 1;
}
#endif

/* split_fields, keeping the first 7 fields (start, length, holds "" or not);
 * 0, or the reason the line is invalid (`nfields` set for HW_CSV_FIELDS). */
static inline int hw_csv_split(const uint8_t *p, size_t n, const uint8_t *fs[7], size_t fl[7],
                               int fe[7], int64_t *nfields) {
    const uint8_t *end = p + n;
    int64_t count = 0;
    size_t i = 0;
    for (;;) {
        if (i < n && p[i] == '"') {
            size_t start = ++i;
            int esc = 0;
            size_t stop;
            for (;;) {
                const uint8_t *q = hw_find_end(p, p + i, end, '"');
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
            const uint8_t *c = hw_find_end(p, p + i, end, ',');
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
    return 0;
}

/* CsvFormat.parse_line on bytes. `scratch` holds >= 2 * n bytes. */
static int hw_parse_csv(const uint8_t *p, size_t n, hw_rec *r, uint8_t *scratch,
                        int64_t *nfields) {
    const uint8_t *end = p + n;
    const uint8_t *fs[7];
    size_t fl[7];
    int fe[7];
    int plain = 0;
#if HW_SIMD
    plain = n >= 16 && n <= 128 && hw_csv_plain(p, n, fs, fl);
#endif
    if (plain) {
        memset(fe, 0, sizeof fe);
    } else {
        int reason = hw_csv_split(p, n, fs, fl, fe, nfields);
        if (reason) return reason;
    }
    /* A field holding an escaped quote is never digits. */
    int64_t ts = fe[3] ? -1 : hw_parse_epoch(p, fs[3], fl[3]);
    if (ts < 0) return HW_BAD_DATE;
    int cls = fe[5] ? 0 : hw_status_class(fs[5], fl[5]);
    if (!cls) return HW_BAD_STATUS;
    int64_t size = fe[6] ? -1 : hw_parse_size(p, fs[6], fl[6]);
    if (size < 0) return HW_BAD_BYTES;
    r->ts = ts;
    r->cls = cls;
    r->status = fs[5];
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
        hw_request_in(scratch, scratch, len, scratch + len, r);
    } else {
        hw_request_in(p, fs[4], fl[4], end, r);
    }
    return HW_OK;
}

#endif
