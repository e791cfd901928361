/* hitwatch native kernel, part 1: parsing one line of bytes into a record.
 *
 * Every rule of formats/base.py, formats/csv.py and formats/clf.py, replicated
 * on bytes (see kernel_core.h for why cutting at ASCII delimiters is exact).
 * Pure functions of the line (the timestamp cache only saves work): no
 * tables, no time model. Nothing here reads outside [p, p + n) of the line it
 * is given, or outside the unescaped copy of a field in the scratch.
 *
 * The fast paths (SSE2 searches, request bits, the CSV parity split, digits
 * eight or sixteen at a time) each fall back to the plain walk whenever they cannot
 * decide a line, and must agree with it byte for byte; building with
 * HW_NO_SIMD leaves only the plain walks, which is how they are tested.
 *
 * Here: hw_parse_line and hw_classify, over the headers it includes, in
 * this order: parse_base.h (the record, the searches and digit loops),
 * parse_time.h (CLF timestamps), parse_request.h (a request's method and
 * section), parse_csv.h and parse_clf.h (a line of each format).
 */
#ifndef HITWATCH_PARSE_H
#define HITWATCH_PARSE_H

#include "parse_base.h"
#include "parse_time.h"
#include "parse_request.h"
#include "parse_csv.h"
#include "parse_clf.h"


static int hw_is_header(const uint8_t *p, size_t n) {
    return (n == sizeof HW_HEADER_Q - 1 && memcmp(p, HW_HEADER_Q, n) == 0) ||
           (n == sizeof HW_HEADER_U - 1 && memcmp(p, HW_HEADER_U, n) == 0);
}

/* One non-empty line without its line ending: HW_OK with `r` filled, HW_HEADER,
 * or the reason it is invalid (`nfields` set for HW_CSV_FIELDS). `scratch`
 * holds >= 2 * HW_MAX_LINE bytes; keys in `r` may point into it. */
static inline int hw_parse_line(int format, const uint8_t *p, size_t n, hw_rec *r,
                                uint8_t *scratch, hw_stamp_cache *stamps, int64_t *nfields) {
    if (n > HW_MAX_LINE) return HW_OVERLONG;
    if (format == HW_CLF) {
        int reason = hw_parse_clf(p, n, r, stamps);
        if (reason == HW_NOT_CLF && hw_is_header(p, n)) return HW_HEADER;
        return reason;
    }
    if ((p[0] == '"' || p[0] == 'r') && hw_is_header(p, n)) return HW_HEADER;
    return hw_parse_csv(p, n, r, scratch, nfields);
}

/* From the `"` at q, a "([^"\\]*(?:\\.[^"\\]*)*)" field: the byte after its
 * closing quote, or NULL. */
static const uint8_t *hw_quoted_end(const uint8_t *q, const uint8_t *end) {
    if (q >= end || *q != '"') return NULL;
    for (q++; q < end; q++) {
        if (*q == '"') return q + 1;
        if (*q == '\\' && ++q == end) return NULL;
    }
    return NULL;
}

enum { HW_IS_CSV = 1, HW_IS_CLF = 2, HW_IS_COMBINED = 4 };

/* What formats.detect asks of a sample line (without its line ending): whether
 * CsvFormat and ClfFormat parse it into a record, and clf.looks_combined, as
 * HW_IS_* bits. `scratch` as for hw_parse_line. */
static int hw_classify(const uint8_t *p, size_t n, uint8_t *scratch) {
    if (n == 0 || n > HW_MAX_LINE) return 0;
    hw_rec r;
    hw_stamp_cache stamps = {.ts = -2};
    int64_t nfields;
    int kinds = 0;
    if (hw_parse_line(HW_CSV, p, n, &r, scratch, &stamps, &nfields) == HW_OK) kinds |= HW_IS_CSV;
    int reason = hw_parse_clf(p, n, &r, &stamps);
    if (reason == HW_OK) kinds |= HW_IS_CLF;
    if (reason != HW_NOT_CLF) {
        /* clf._COMBINED_TAIL right after the match: ' "referer" "agent"' */
        const uint8_t *end = p + n, *t = r.tail;
        if (end - t > 1 && t[0] == ' ' && (t = hw_quoted_end(t + 1, end)) != NULL &&
            end - t > 1 && t[0] == ' ' && hw_quoted_end(t + 1, end) != NULL)
            kinds |= HW_IS_COMBINED;
    }
    return kinds;
}

#endif
