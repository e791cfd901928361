/* hitwatch native kernel: a request's method and section (request_parts,
 * section_of), by searches or from its bits (SSE2). Included by parse.h. */
#ifndef HITWATCH_PARSE_REQUEST_H
#define HITWATCH_PARSE_REQUEST_H

/* section_of on bytes (the target is never percent-decoded). [lo, hi) is
 * readable around [t, t + n). */
static HW_NOINLINE void hw_section_of(const uint8_t *lo, const uint8_t *t, size_t n,
                                      const uint8_t *hi, hw_rec *r) {
    /* Query and fragment first: the authority ends at `?` or `#` too. */
    const uint8_t *cut = hw_find2(lo, t, t + n, hi, '?', '#');
    if (cut != NULL) n = (size_t)(cut - t);
    if (n > 0 && hw_alpha(t[0])) {
        size_t j = 1;
        while (j < n && (hw_alpha(t[j]) || hw_digit(t[j]) || t[j] == '+' || t[j] == '.' ||
                         t[j] == '-'))
            j++;
        if (j + 3 <= n && t[j] == ':' && t[j + 1] == '/' && t[j + 2] == '/') {
            const uint8_t *slash = hw_find(lo, t + j + 3, t + n, hi, '/');
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
    const uint8_t *end = hw_find(lo, t + 1, t + n, hi, '/');
    r->section = t;
    if (end == NULL)
        r->section_len = n;
    else
        r->section_len = end > t + 1 ? (size_t)(end - t) : 1;
}

/* is_method: 1-20 ASCII letters, `-` or `_`, starting with a letter (SPEC §1). */
static inline int hw_method_ok(const uint8_t *m, size_t n) {
    if (n == 0 || n > 20 || !hw_alpha(m[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (!hw_alpha(m[i]) && m[i] != '-' && m[i] != '_') return 0;
    return 1;
}

/* request_parts: split on single spaces; 2 or 3 parts, the first a method.
 * [lo, hi) is readable around [q, q + n). */
static void hw_request(const uint8_t *lo, const uint8_t *q, size_t n, const uint8_t *hi,
                       hw_rec *r) {
    const uint8_t *end = q + n;
    const uint8_t *s1 = hw_find(lo, q, end, hi, ' ');
    if (s1 == NULL || !hw_method_ok(q, (size_t)(s1 - q))) goto other;
    const uint8_t *rest = s1 + 1;
    const uint8_t *s2 = hw_find(lo, rest, end, hi, ' ');
    const uint8_t *tend = end;
    if (s2 != NULL) {
        if (hw_find(lo, s2 + 1, end, hi, ' ') != NULL) goto other;
        tend = s2;
    }
    r->method = q;
    r->method_len = (size_t)(s1 - q);
    hw_section_of(lo, rest, (size_t)(tend - rest), hi, r);
    return;
other:
    r->method = r->section = HW_OTHER;
    r->method_len = r->section_len = HW_OTHER_LEN;
}

#if HW_SIMD
/* A request of at most HW_RBITS bytes as bits (bit i: byte i of the request):
 * spaces, `?` or `#`, `/`. With them, request_parts and section_of take no
 * search, only bit operations. */
#define HW_RBITS 63

typedef struct {
    uint64_t sp, qh, sl;
} hw_rbits;

/* Adds the bits of the 16 bytes at q + k (k < 64; hi - lo >= 16, q + k < hi);
 * returns the bits of `"` or `\`. */
static inline unsigned hw_rbits_add(hw_rbits *b, const uint8_t *q, size_t k, const uint8_t *hi) {
    unsigned shift;
    __m128i v = hw_load16_at(q + k, hi, &shift);
    b->sp |= (uint64_t)(hw_eq(v, ' ') >> shift) << k;
    b->qh |= (uint64_t)((hw_eq(v, '?') | hw_eq(v, '#')) >> shift) << k;
    b->sl |= (uint64_t)(hw_eq(v, '/') >> shift) << k;
    return (hw_eq(v, '"') | hw_eq(v, '\\')) >> shift;
}

/* hw_request for [q, q + n), n <= HW_RBITS, from its bits (none at or past n).
 * Inlined: a call would spill the bits (and the record's fields) to memory
 * and read them back; hw_section_of, for the rare scheme://, stays a call. */
static HW_ALWAYS_INLINE void hw_request_bits(const uint8_t *lo, const uint8_t *q, size_t n,
                                             const uint8_t *hi, const hw_rbits *b, hw_rec *r) {
    uint64_t sp = b->sp;
    if (sp == 0 || (sp & 1)) goto other; /* one part, or an empty method */
    size_t s1 = (size_t)__builtin_ctzll(sp), tend = n;
    uint64_t rest = sp & (sp - 1);
    if (rest) {
        if (rest & (rest - 1)) goto other; /* four parts or more */
        tend = (size_t)__builtin_ctzll(rest);
    }
    if (!hw_method_ok(q, s1)) goto other;
    r->method = q;
    r->method_len = s1;
    size_t t = s1 + 1; /* the target is [t, tend) */
    if (t < tend && hw_alpha(q[t])) {
        hw_section_of(lo, q + t, tend - t, hi, r); /* maybe a scheme://authority */
        return;
    }
    uint64_t below_t = (1ULL << t) - 1;
    uint64_t cuts = b->qh & ((1ULL << tend) - 1) & ~below_t;
    size_t cut = cuts ? (size_t)__builtin_ctzll(cuts) : tend;
    if (cut == t || q[t] != '/') {
        r->section = HW_OTHER;
        r->section_len = HW_OTHER_LEN;
        return;
    }
    uint64_t slashes = b->sl & ((1ULL << cut) - 1) & ~((below_t << 1) | 1);
    r->section = q + t;
    r->section_len = (slashes ? (size_t)__builtin_ctzll(slashes) : cut) - t;
    return;
other:
    r->method = r->section = HW_OTHER;
    r->method_len = r->section_len = HW_OTHER_LEN;
}
#endif

/* The request [q, q + n) of a line whose readable bytes are [lo, hi). */
static inline void hw_request_in(const uint8_t *lo, const uint8_t *q, size_t n, const uint8_t *hi,
                                 hw_rec *r) {
#if HW_SIMD
    if (n <= HW_RBITS && hi - lo >= 16) {
        hw_rbits b = {0, 0, 0};
        for (size_t k = 0; k < n; k += 16) hw_rbits_add(&b, q, k, hi);
        uint64_t keep = (1ULL << n) - 1;
        b.sp &= keep;
        b.qh &= keep;
        b.sl &= keep;
        hw_request_bits(lo, q, n, hi, &b, r);
        return;
    }
#endif
    hw_request(lo, q, n, hi, r);
}

#endif
