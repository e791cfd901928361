/* hitwatch native kernel: records through the time model (SPEC §2-3)
 * and blocks of lines through the parser (hw_feed). Included by
 * kernel_core.h. */
#ifndef HITWATCH_KERNEL_FEED_H
#define HITWATCH_KERNEL_FEED_H

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
