/* hitwatch native kernel: one line read with a description
 * (hw_desc_parse: match_items, then TextFormat.convert). Included by
 * describe.h. */
#ifndef HITWATCH_DESCRIBE_LINE_H
#define HITWATCH_DESCRIBE_LINE_H

/* ------------------------------------------------------ a line */

/* a[0, n) == b[0, n): literals are short, and a call of memcmp costs more. */
static HW_ALWAYS_INLINE int hw_same(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n == 1) return a[0] == b[0];
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* The first occurrence of lit[0, len) in p[from, n), or HW_NONE. */
static inline size_t hw_find_lit(const uint8_t *p, size_t n, size_t from, const uint8_t *lit,
                                 size_t len) {
    if (len == 0) return from;
    if (n - from < len) return HW_NONE;
    const uint8_t *end = p + n - len + 1, *q = p + from;
    for (;;) {
        const uint8_t *c = hw_find_end(p, q, end, lit[0]);
        if (c == NULL) return HW_NONE;
        if (hw_same(c + 1, lit + 1, len - 1)) return (size_t)(c - p);
        q = c + 1;
    }
}

/* The first byte splat[0] in p[pos, n), or HW_NONE: hw_find_end with the
 * byte already in all 16 lanes (a broadcast each time cost 5% of a line). */
static inline size_t hw_find_splat(const uint8_t *p, size_t pos, size_t n, const uint8_t *splat) {
#if HW_SIMD
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)splat);
    for (; n - pos >= 16; pos += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(hw_load16(p + pos), c));
        if (m) return pos + (size_t)__builtin_ctz(m);
    }
    if (n >= 16 && pos < n) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(hw_load16(p + n - 16), c)) >>
                     (16 - (n - pos));
        return m ? pos + (size_t)__builtin_ctz(m) : HW_NONE;
    }
#endif
    for (; pos < n; pos++)
        if (p[pos] == splat[0]) return pos;
    return HW_NONE;
}

/* The first `"` or `\\` in p[q, n) (q < n), or HW_NONE: the end of a quoted
 * value, or an escape in it. */
static inline size_t hw_quote_stop(const uint8_t *p, size_t q, size_t n) {
#if HW_SIMD
    for (; n - q >= 32; q += 32) { /* user agents: 32 bytes a step, one branch */
        __m128i x = hw_load16(p + q), y = hw_load16(p + q + 16);
        unsigned m = hw_eq(x, '"') | hw_eq(x, '\\') | (hw_eq(y, '"') | hw_eq(y, '\\')) << 16;
        if (m) return q + (size_t)__builtin_ctz(m);
    }
    if (n >= 16) { /* the rest, in the 16 or 32 bytes that end the line */
        size_t from = n - q > 16 ? q : n - 16;
        __m128i x = hw_load16(p + from);
        unsigned m = (hw_eq(x, '"') | hw_eq(x, '\\')) >> (q - from);
        if (m) return q + (size_t)__builtin_ctz(m);
        if (from == q && n - q > 16) {
            x = hw_load16(p + n - 16);
            m = (hw_eq(x, '"') | hw_eq(x, '\\')) >> (16 - (n - q - 16));
            if (m) return q + 16 + (size_t)__builtin_ctz(m);
        }
        return HW_NONE;
    }
#endif
    for (; q < n; q++)
        if (p[q] == '"' || p[q] == '\\') return q;
    return HW_NONE;
}

/* A time value of the layout HW_TIME_CLF: clf.parse_time, with the stamp cache. */
static inline int64_t hw_desc_clf_time(const uint8_t *s, size_t n, hw_stamp_cache *cache) {
    if (n != 26) return -1;
    if (cache->ts == -2 || !hw_same_minute(s, cache->stamp)) {
        memcpy(cache->stamp, s, 26);
        cache->base = hw_stamp_base(s);
        cache->ts = 0;
    }
    return hw_stamp_ts(cache->base, s);
}

/* One line (no line ending, not a header, at most HW_MAX_LINE bytes) read
 * with description D: HW_OK with `r` filled (its keys point into the line,
 * or at constants), or the reason it is invalid. `scratch` holds at least
 * 2 * HW_MAX_LINE + 2 bytes. */
static int hw_desc_parse(const hw_desc *D, const uint8_t *p, size_t n, hw_rec *r,
                         uint8_t *scratch, hw_stamp_cache *stamps) {
    const uint8_t *vp[HW_F_COUNT + 1];
    size_t vn[HW_F_COUNT + 1];
    double duration = 0.0;
    int with_duration = D->ndur > 0;
    size_t pos = 0;
    const hw_op *ops = D->ops;
#if HW_SIMD
    hw_rbits rb = {0, 0, 0};
    int fast_request = 0;
#endif
    for (size_t i = 0; i < D->nops; i++) {
        const hw_op *o = &ops[i];
        const uint8_t *lit = D->text + o->lit_off;
        size_t ll = o->lit_len;
        if (o->op == HW_OP_LIT) {
            if (n - pos < ll || !hw_same(p + pos, lit, ll)) return HW_NOT_LINE;
            pos += ll;
            continue;
        }
        size_t a = pos + 1, b = HW_NONE;
        if (o->quoted && pos < n && p[pos] == '"') {
#if HW_SIMD
            if (o->request && n >= 16) {
                /* A request of at most 63 bytes: its end and its bits
                 * (hw_request_bits) in one pass, as hw_parse_clf does. */
                const uint8_t *req = p + a, *end = p + n;
                for (size_t k = 0; k < 64 && k < (size_t)(end - req); k += 16) {
                    unsigned e = hw_rbits_add(&rb, req, k, end);
                    if (e) {
                        size_t at = k + (size_t)__builtin_ctz(e);
                        if (req[at] == '"' && at <= HW_RBITS) b = a + at;
                        break;
                    }
                }
                fast_request = b != HW_NONE;
            }
#endif
            if (b == HW_NONE) {
                size_t q = a;
                for (;;) {
                    q = q < n ? hw_quote_stop(p, q, n) : HW_NONE;
                    if (q == HW_NONE) return HW_NOT_LINE;
                    if (p[q] == '"') break;
                    q += 2; /* the escaped byte, whatever it is */
                    if (q >= n) return HW_NOT_LINE;
                }
                b = q;
            }
            pos = b + 1;
            if (o->op == HW_OP_TO_LIT) {
                if (n - pos < ll || !hw_same(p + pos, lit, ll)) return HW_NOT_LINE;
                pos += ll;
            }
        } else if (o->op == HW_OP_TO_LIT && ll == 1 && o->repeats == 0) {
            a = pos; /* the usual step: a field up to a byte */
            b = hw_find_splat(p, pos, n, o->splat);
            if (b == HW_NONE) return HW_NOT_LINE;
            pos = b + 1;
        } else if (o->op == HW_OP_TO_LIT) {
            a = pos;
            size_t e = pos;
            for (uint32_t r = 0; r < o->repeats; r++) {
                e = hw_find_lit(p, n, e, lit, ll);
                if (e == HW_NONE) return HW_NOT_LINE;
                e += ll;
            }
            b = hw_find_lit(p, n, e, lit, ll);
            if (b == HW_NONE) return HW_NOT_LINE;
            pos = b + ll;
        } else if (o->op == HW_OP_LAST) {
            a = pos;
            const uint8_t *sp = hw_find_end(p, p + pos, p + n, ' ');
            b = sp ? (size_t)(sp - p) : n;
            pos = b;
        } else {
            a = pos;
            b = hw_skip_chars(p, pos, n, o->width);
            if (b == HW_NONE) return HW_NOT_LINE;
            pos = b;
        }
        vp[o->slot] = p + a;
        vn[o->slot] = b - a;
        if (o->dur) {
            double part;
            if (with_duration && hw_duration(p, p + a, b - a, o->divisor, &part))
                duration += part;
            else
                with_duration = 0;
        }
    }
    int got = D->got; /* the fields with a value: every one the description has */
    /* TextFormat.convert */
    int64_t ts;
    switch (D->time_kind) {
    case HW_TIME_CLF: ts = hw_desc_clf_time(vp[HW_F_TIME], vn[HW_F_TIME], stamps); break;
    case HW_TIME_ISO: ts = hw_iso(vp[HW_F_TIME], vn[HW_F_TIME]); break;
    case HW_TIME_SEC: ts = hw_epoch(vp[HW_F_TIME], vn[HW_F_TIME], 1); break;
    case HW_TIME_MSEC: ts = hw_epoch(vp[HW_F_TIME], vn[HW_F_TIME], 1000); break;
    case HW_TIME_USEC: ts = hw_epoch(vp[HW_F_TIME], vn[HW_F_TIME], 1000000); break;
    case HW_TIME_STRF: ts = hw_strf(D, vp[HW_F_TIME], vn[HW_F_TIME]); break;
    default: { /* date + " " + clock */
        size_t dn = vn[HW_F_DATE], cn = vn[HW_F_CLOCK];
        memcpy(scratch, vp[HW_F_DATE], dn);
        scratch[dn] = ' ';
        memcpy(scratch + dn + 1, vp[HW_F_CLOCK], cn);
        ts = hw_iso(scratch, dn + 1 + cn);
        break;
    }
    }
    if (ts < 0) return HW_BAD_TIMESTAMP;
    int cls = hw_status_class(vp[HW_F_STATUS], vn[HW_F_STATUS]);
    if (!cls) return HW_BAD_STATUS;
    int64_t nbytes = 0;
    if (got & (1 << HW_F_BYTES)) {
        nbytes = hw_parse_size(p, vp[HW_F_BYTES], vn[HW_F_BYTES]);
        if (nbytes < 0) return HW_BAD_BYTES;
    }
    r->ts = ts;
    r->cls = cls;
    r->status = vp[HW_F_STATUS];
    r->nbytes = nbytes;
    if (got & (1 << HW_F_REQUEST)) {
#if HW_SIMD
        if (fast_request) {
            size_t len = vn[HW_F_REQUEST];
            uint64_t keep = (1ULL << len) - 1;
            rb.sp &= keep;
            rb.qh &= keep;
            rb.sl &= keep;
            hw_request_bits(p, vp[HW_F_REQUEST], len, p + n, &rb, r);
        } else
#endif
        hw_request_in(p, vp[HW_F_REQUEST], vn[HW_F_REQUEST], p + n, r);
    } else {
        if ((got & (1 << HW_F_METHOD)) && hw_method_ok(vp[HW_F_METHOD], vn[HW_F_METHOD])) {
            r->method = vp[HW_F_METHOD];
            r->method_len = vn[HW_F_METHOD];
        } else {
            r->method = HW_OTHER;
            r->method_len = HW_OTHER_LEN;
        }
        if (got & (1 << HW_F_TARGET)) {
            hw_section_of(p, vp[HW_F_TARGET], vn[HW_F_TARGET], p + n, r);
        } else {
            r->section = HW_OTHER;
            r->section_len = HW_OTHER_LEN;
        }
    }
    if (got & (1 << HW_F_HOST)) {
        r->host = vp[HW_F_HOST];
        r->host_len = vn[HW_F_HOST];
        if (D->host_port) hw_strip_port(&r->host, &r->host_len);
    } else {
        r->host = HW_DASH;
        r->host_len = 1;
    }
    if (D->xff) {
        const uint8_t *x = vp[HW_F_XFF];
        size_t xn = vn[HW_F_XFF];
        if (hw_first_address(&x, &xn)) {
            r->host = x;
            r->host_len = xn;
        }
    }
    if (got & (1 << HW_F_VHOST)) {
        r->vhost = vp[HW_F_VHOST];
        r->vhost_len = vn[HW_F_VHOST];
        if (D->vhost_port) hw_strip_port(&r->vhost, &r->vhost_len);
    } else {
        r->vhost = HW_EMPTY;
        r->vhost_len = 0;
    }
    r->has_duration = with_duration;
    r->duration = duration;
    return HW_OK;
}

#endif
