/* libFuzzer harness for hitwatch's native kernel (src/hitwatch/native/kernel_core.h).
 *
 * Built with -fsanitize=fuzzer,address,undefined by fuzz/run.sh. The first
 * bytes of an input choose the format, interval, lateness, starting time
 * state, block size and whether open intervals stay in the kernel across
 * blocks (files) or everything is handed over after each block (live); the
 * rest is the log, fed block by block as hitwatch.native does (whole lines,
 * the last block maybe without a final newline). Besides memory errors, it
 * checks the kernel's own accounting: every line is a record, a late, an
 * invalid, a header or an empty line; every record is counted once in a
 * second and once in an interval (with its three keys); seconds and
 * intervals handed over never come back. With the record log on (bits of
 * the fourth byte: on, and its buffer reused), every record counted is in the log of the result that
 * read it, once: the logs' records, tallied per second, per interval and
 * per key, are exactly the seconds' hits and the intervals' counts handed
 * over. It also asks format detection's questions of the first lines
 * (hw_classify), and reads the log itself (hw_log_next) as a hostile one.
 *
 * With bit 16 of the fourth byte the format is a description (describe.h),
 * made from the next bytes: a length n, then n bytes read as items (a
 * kind, a field, and a literal or an argument from the tables below: the
 * shapes format strings have), or with bit 32 handed to hw_desc_load as
 * they are (a hostile description). Its lines are read with it, and the
 * vhosts and durations counted are held to the logs like the other keys.
 */
#include <assert.h>
#include <stdio.h>

#include "../src/hitwatch/native/kernel_core.h"

/* ------------------------------------------------- descriptions */

static const char *const LITERALS[] = {
    " ", " - ", " [", "] ", ":", "|", "\t", ", ", " (", ") ", "\"", "ms", " \"", "\" ", "]", "[",
};
static const char *const LAYOUTS[] = {
    "", "%d/%b/%Y:%H:%M:%S %z", "iso8601", "sec", "msec", "usec", "%d/%b/%Y %T",
    "%e %b %Y %H:%M:%S.%f %z", "%Y-%m-%dT%H:%M:%S%z", "%a %d %b %Y %H:%M %z", "%d/%b/%Y:%H:%M:%S.%f",
    "%F %T", "%e%m%Y %H%M", "%%T %Y %m %d %H %M %z %f",
};
static const char *const UNITS[] = {"s", "ms", "us", "ns"};

/* A description's bytes (hw_desc_load's layout) from n fuzz bytes at d:
 * each byte an item. Returns its length in out (which holds 64 * n + 1). */
static size_t make_desc(const uint8_t *d, size_t n, int xff, uint8_t *out) {
    size_t o = 0;
    out[o++] = (uint8_t)xff;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = d[i];
        int kind = b & 3;
        const char *text = "";
        int field = 0;
        if (kind == 0 || kind == 3) {
            kind = 0;
            text = LITERALS[(b >> 2) % (sizeof LITERALS / sizeof *LITERALS)];
        } else {
            field = (b >> 2) % 13;
            int arg = b >> 6;
            if (field == 2) text = LAYOUTS[(b >> 4) % (sizeof LAYOUTS / sizeof *LAYOUTS)];
            if (field == 9) text = UNITS[arg];
            if ((field == 1 || field == 8) && arg == 3) text = "port";
        }
        size_t len = strlen(text);
        out[o++] = (uint8_t)kind;
        out[o++] = (uint8_t)field;
        out[o++] = (uint8_t)len;
        out[o++] = 0;
        memcpy(out + o, text, len);
        o += len;
    }
    return o;
}

/* One line read with D: a record whose keys lie in the line or are constants,
 * or a known reason. The line is a copy of its own size (ASan sees overreads). */
static void check_desc_line(const hw_desc *D, const uint8_t *src, size_t n, uint8_t *scratch) {
    uint8_t *line = malloc(n ? n : 1);
    if (line == NULL) abort();
    memcpy(line, src, n);
    hw_rec r;
    hw_stamp_cache stamps = {.ts = -2};
    int rc = hw_desc_parse(D, line, n, &r, scratch, &stamps);
    if (rc == HW_OK) {
        const uint8_t *end = line + n;
#define IN_LINE(p, len) ((p) >= line && (p) + (len) <= end)
        if (!IN_LINE(r.status, 3) || r.cls < 1 || r.cls > 5) abort();
        if (r.ts < 0 || r.ts > HW_MAX_TS || r.nbytes < 0) abort();
        if (!IN_LINE(r.host, r.host_len) && r.host != HW_DASH) abort();
        if (!IN_LINE(r.vhost, r.vhost_len) && r.vhost != HW_EMPTY) abort();
        if (!IN_LINE(r.method, r.method_len) && r.method != HW_OTHER) abort();
        if (!IN_LINE(r.section, r.section_len) && r.section != HW_OTHER) abort();
        if (r.has_duration && !(r.duration >= 0 && r.duration < 1e37)) abort();
#undef IN_LINE
    } else if (rc != HW_NOT_LINE && rc != HW_BAD_TIMESTAMP && rc != HW_BAD_STATUS &&
               rc != HW_BAD_BYTES) {
        abort();
    }
    free(line);
}

/* What must hold whatever the input (besides the absence of memory errors). */
typedef struct {
    int64_t rows, late, hits, late_attributed, last_k, last_s;
} totals;

/* ------------------------------------------------- record log tallies
 * What the logs say (+1 a record) against what was handed over (-count):
 * per second (kind 3, a = ts), per interval and class (kind 4, a = k, the
 * class digit as its key) and per interval and key (kinds 0-2 as hw_kind,
 * a = k). Every group must sum to 0 in the end. */
typedef struct {
    int64_t a, count;
    uint32_t kind, len;
    size_t off;
} tally_entry;

typedef struct {
    tally_entry *e;
    size_t n, cap;
    uint8_t *arena;
    size_t arena_n, arena_cap;
} tally;

static void tally_add(tally *t, uint32_t kind, int64_t a, const uint8_t *key, size_t len,
                      int64_t count) {
    if (hw_grow((void **)&t->e, &t->cap, sizeof *t->e, t->n + 1) < 0 ||
        hw_grow((void **)&t->arena, &t->arena_cap, 1, t->arena_n + len + 1) < 0)
        abort();
    if (len) memcpy(t->arena + t->arena_n, key, len);
    t->e[t->n++] = (tally_entry){a, count, kind, (uint32_t)len, t->arena_n};
    t->arena_n += len;
}

static const uint8_t *tally_arena; /* for tally_cmp */

static int tally_cmp(const void *x, const void *y) {
    const tally_entry *p = x, *q = y;
    if (p->kind != q->kind) return p->kind < q->kind ? -1 : 1;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    if (p->len != q->len) return p->len < q->len ? -1 : 1;
    return p->len ? memcmp(tally_arena + p->off, tally_arena + q->off, p->len) : 0;
}

static void tally_check(tally *t) {
    tally_arena = t->arena;
    if (t->n) qsort(t->e, t->n, sizeof *t->e, tally_cmp);
    for (size_t i = 0; i < t->n;) {
        int64_t sum = 0;
        size_t j = i;
        for (; j < t->n && tally_cmp(&t->e[i], &t->e[j]) == 0; j++) sum += t->e[j].count;
        if (sum != 0) {
            fprintf(stderr, "record log: kind %u at %lld off by %lld\n", t->e[i].kind,
                    (long long)t->e[i].a, (long long)sum);
            abort();
        }
        i = j;
    }
    free(t->e);
    free(t->arena);
}

/* The records of a result's log into the tally; returns how many. */
static int64_t tally_log(tally *t, const hw_result *res, int64_t interval) {
    if (res->recs == NULL) {
        if (res->recs_n) abort();
        return 0;
    }
    const uint8_t *p = res->recs, *end = res->recs + res->recs_n;
    int64_t n = 0;
    hw_log_rec r;
    while (p < end) {
        if (hw_log_next(&p, end, &r) < 0) abort(); /* the kernel's own logs are well formed */
        if (r.ts < 0 || r.ts > HW_MAX_TS) abort();
        int64_t k = r.ts / interval;
        uint8_t cls = (uint8_t)('0' + r.status / 100);
        tally_add(t, 3, r.ts, NULL, 0, 1);
        tally_add(t, 4, k, &cls, 1, 1);
        tally_add(t, HW_SECTION, k, r.section, r.section_len, 1);
        tally_add(t, HW_HOST, k, r.host, r.host_len, 1);
        tally_add(t, HW_METHOD, k, r.method, r.method_len, 1);
        if (r.has_vhost) tally_add(t, HW_VHOST, k, r.vhost, r.vhost_len, 1);
        if (r.has_duration) tally_add(t, 5, k, (const uint8_t *)&r.duration, 8, 1);
        n++;
    }
    return n;
}

/* What a result hands over, out of the tally. */
static void tally_handed(tally *t, const hw_result *res) {
    for (size_t i = 0; i < res->secs_n; i++)
        tally_add(t, 3, res->secs[i].ts, NULL, 0, -res->secs[i].hits);
    for (size_t i = 0; i < res->ivs_n; i++) {
        const hw_interval *iv = res->ivs[i];
        for (int c = 0; c < 5; c++) {
            uint8_t cls = (uint8_t)('1' + c);
            if (iv->status[c]) tally_add(t, 4, iv->k, &cls, 1, -iv->status[c]);
        }
        for (size_t j = 0; j < iv->keys_cap; j++) {
            const hw_key *e = &iv->keys[j];
            if (e->kind == UINT32_MAX) continue;
            tally_add(t, e->kind, iv->k, iv->arena + e->off, e->len, -e->count);
        }
        for (size_t j = 0; j < iv->durs_n; j++)
            tally_add(t, 5, iv->k, (const uint8_t *)&iv->durs[j], 8, -1);
    }
}

/* hw_by_kind + hw_top give each kind's keys once each, in _rank's order,
 * counts summing to the hits; a smaller limit gives the same first ones. */
static void check_ranked(const hw_interval *iv) {
    size_t stride = iv->keys_n + 1, n[HW_KINDS];
    hw_ranked *r = malloc(HW_KINDS * stride * sizeof *r), *few = malloc(stride * sizeof *r);
    if (r == NULL || few == NULL) abort();
    hw_by_kind(iv, r, stride, n);
    for (uint32_t kind = 0; kind < HW_KINDS; kind++) {
        if (kind == HW_VHOST && n[kind] == 0) continue; /* a format without vhosts */
        hw_ranked *a = r + kind * stride;
        memcpy(few, a, n[kind] * sizeof *a);
        size_t limit = (size_t)iv->hits % 7;
        if (hw_top(a, n[kind], n[kind]) != n[kind]) abort();
        int64_t sum = 0;
        for (size_t i = 0; i < n[kind]; i++) {
            sum += a[i].count;
            if (i && hw_rank_cmp(&a[i - 1], &a[i]) >= 0) abort(); /* strictly ordered: no twins */
        }
        if (sum != iv->hits) abort();
        size_t m = hw_top(few, n[kind], limit);
        if (m != (limit < n[kind] ? limit : n[kind])) abort();
        for (size_t i = 0; i < m; i++)
            if (hw_rank_cmp(&few[i], &a[i]) != 0) abort();
    }
    free(r);
    free(few);
}

static void check_result(const hw_kernel *K, const hw_result *res, const uint8_t *data, size_t n,
                         totals *t, int keep) {
    int64_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += data[i] == '\n';
    if (n && data[n - 1] != '\n') lines++;
    if (res->lines != lines) {
        fprintf(stderr, "lines %lld != %lld\n", (long long)res->lines, (long long)lines);
        abort();
    }
    /* rows include late lines; records are rows - late */
    if (res->rows + res->invalid + res->headers + res->empty != res->lines) abort();
    if (res->bad_n != (size_t)res->invalid) abort();
    for (size_t i = 0; i < res->bad_n; i++)
        if (res->bad[i].reason < 1 || res->bad[i].reason > HW_NOT_LINE) abort();
    t->rows += res->rows;
    t->late += res->late;
    /* Kept across blocks, handed-over seconds and intervals are final: they
     * never come again. Handed over after each block, they may. */
    if (!keep) t->last_s = t->last_k = INT64_MIN;
    int64_t smax = t->last_s, kmin = t->last_k;
    for (size_t i = 0; i < res->secs_n; i++) {
        if (res->secs[i].ts <= t->last_s || res->secs[i].hits <= 0) abort();
        if (res->started && res->secs[i].ts < res->start) abort(); /* before the timeline */
        if (res->secs[i].ts > smax) smax = res->secs[i].ts;
        t->hits -= res->secs[i].hits;
    }
    t->last_s = smax;
    for (size_t i = 0; i < res->ivs_n; i++) {
        const hw_interval *iv = res->ivs[i];
        if (iv->k <= kmin) abort(); /* sorted, and never handed over twice */
        kmin = iv->k;
        t->last_k = iv->k;
        t->hits += iv->hits;
        t->late_attributed += iv->late;
        int64_t st = 0;
        for (int c = 0; c < 5; c++) st += iv->status[c];
        if (st != iv->hits) abort();
        int64_t per_kind[HW_KINDS] = {0, 0, 0, 0};
        for (size_t j = 0; j < iv->keys_cap; j++) {
            const hw_key *e = &iv->keys[j];
            if (e->kind == UINT32_MAX) continue;
            if (e->kind >= HW_KINDS || e->off + e->len > iv->arena_n || e->count <= 0) abort();
            per_kind[e->kind] += e->count;
        }
        for (int k = 0; k < HW_KINDS; k++)
            if (per_kind[k] != (k == HW_VHOST && !K->with_vhost ? 0 : iv->hits)) abort();
        if ((int64_t)iv->durs_n > iv->hits || (iv->durs_n && !K->with_duration)) abort();
        if (iv->durs_n) { /* the latency of a copy: ranks in order, max the largest */
            hw_interval copy = *iv;
            copy.durs = malloc(iv->durs_n * sizeof *iv->durs);
            if (copy.durs == NULL) abort();
            memcpy(copy.durs, iv->durs, iv->durs_n * sizeof *iv->durs);
            hw_latency(&copy);
            double most = iv->durs[0];
            for (size_t j = 1; j < iv->durs_n; j++)
                if (iv->durs[j] > most) most = iv->durs[j];
            if (!(copy.lat[0] <= copy.lat[1] && copy.lat[1] <= copy.lat[2] &&
                  copy.lat[2] <= copy.lat[3] && copy.lat[3] == most))
                abort();
            size_t below = 0, upto = 0; /* p50 is the value at rank ceil(n / 2) */
            for (size_t j = 0; j < iv->durs_n; j++) {
                below += iv->durs[j] < copy.lat[0];
                upto += iv->durs[j] <= copy.lat[0];
            }
            size_t r50 = (50 * iv->durs_n + 99) / 100;
            if (!(below < r50 && r50 <= upto)) abort();
            free(copy.durs);
        }
        check_ranked(iv);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int format = data[0] & 1;
    hw_desc D;
    memset(&D, 0, sizeof D);
    if (data[3] & 16) { /* a description, from the bytes after these four */
        if (size < 5) return 0;
        size_t n = data[4] % 32;
        if (size < 5 + n) return 0;
        const char *why;
        if (data[3] & 32) {
            why = hw_desc_load(&D, data + 5, n);
        } else {
            uint8_t *blob = malloc(64 * n + 1);
            if (blob == NULL) abort();
            size_t len = make_desc(data + 5, n, data[0] & 1, blob);
            why = hw_desc_load(&D, blob, len);
            free(blob);
        }
        if (why != NULL) return 0; /* refused: nothing else to read it with */
        format = HW_DESC;
        data += 1 + n;
        size -= 1 + n;
    }
    int64_t interval = 1 + (data[0] >> 1) % 60;
    int64_t lateness = data[1] % 7 == 6 ? 300 : data[1] % 7;
    size_t block = 1 + (size_t)data[2] * 4;
    int started = data[3] & 1;
    int keep = data[3] & 2; /* keep open intervals across blocks, as for files */
    int records = (data[3] & 4) != 0; /* the accepted-record log */
    int reuse = (data[3] & 8) != 0;   /* its buffer given back after each block */
    data += 4;
    size -= 4;
    hw_kernel K;
    if (hw_init(&K, format, interval, lateness, 0x1234) < 0) abort();
    if (format == HW_DESC) hw_set_desc(&K, &D);
    K.records = records;
    tally logs = {0};
    if (started) {
        K.started = 1;
        K.start = 1700000000;
        K.final = K.start - 1;
        K.max_ts = K.start;
    }
    totals t = {0, 0, 0, 0, INT64_MIN, INT64_MIN};
    size_t pos = 0;
    int64_t lineno = 1;
    do {
        size_t end = pos + block < size ? pos + block : size;
        while (end < size && data[end - 1] != '\n') end++;
        int last = end == size;
        int64_t final = K.final, max_ts = K.max_ts;
        hw_counts_clear(&K);
        if (hw_feed(&K, data + pos, end - pos, lineno) < 0) abort();
        hw_result *res = hw_detach(&K, last || !keep);
        if (res == NULL) abort();
        check_result(&K, res, data + pos, end - pos, &t, keep);
        if (K.final < final || K.max_ts < max_ts) abort(); /* time never goes back */
        if (records) {
            /* this block's records, in its log; its counts handed over */
            if (tally_log(&logs, res, interval) != res->rows - res->late) abort();
            tally_handed(&logs, res);
            /* a log buffer given back is written again from its start */
            if (reuse) hw_log_reuse(&K, res);
        } else if (res->recs != NULL || K.log != NULL) {
            abort(); /* no log unless asked */
        }
        lineno += res->lines;
        hw_result_free(&K, res);
        pos = end;
    } while (pos < size);
    /* everything was handed over: every record and late line accounted for once */
    if (K.ivs_n || K.secs_n) abort();
    if (t.hits != 0 || t.late_attributed != t.late) abort();
    if (records) tally_check(&logs); /* every record once in the logs, nothing else */
    hw_free(&K);
    uint8_t *line_scratch = malloc(2 * HW_MAX_LINE + 64);
    if (line_scratch == NULL) abort();
    for (size_t a = 0, count = 0; format == HW_DESC && a < size && count < 32; count++) {
        const uint8_t *nl = memchr(data + a, '\n', size - a);
        size_t n = (nl != NULL ? (size_t)(nl - data) : size) - a;
        if (n <= HW_MAX_LINE) check_desc_line(&D, data + a, n, line_scratch);
        a += n + 1;
    }
    free(line_scratch);
    hw_desc_free(&D);
    /* The log reader on hostile bytes: the input as a log. */
    for (const uint8_t *p = data, *end = data + size; p < end;) {
        hw_log_rec r;
        if (hw_log_next(&p, end, &r) < 0) break;
        if (r.status < 100 || r.status > 599 || r.host + r.host_len != p || p > end) abort();
    }
    /* Format detection's questions (hw_classify) on the first lines, each
     * copied into a buffer of its own size, so that ASan sees any overread. */
    uint8_t *scratch = malloc(2 * HW_MAX_LINE + 64);
    if (scratch == NULL) abort();
    for (size_t a = 0, count = 0; a < size && count < 32; count++) {
        const uint8_t *nl = memchr(data + a, '\n', size - a);
        size_t n = (nl != NULL ? (size_t)(nl - data) : size) - a;
        uint8_t *line = malloc(n ? n : 1);
        if (line == NULL) abort();
        memcpy(line, data + a, n);
        int kinds = hw_classify(line, n, scratch);
        if ((kinds & ~(HW_IS_CSV | HW_IS_CLF | HW_IS_COMBINED)) != 0) abort();
        free(line);
        a += n + 1;
    }
    free(scratch);
    return 0;
}
