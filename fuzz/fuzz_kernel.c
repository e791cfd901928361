/* libFuzzer harness for hitwatch's native kernel (src/hitwatch/native/kernel_core.h).
 *
 * Built with -fsanitize=fuzzer,address,undefined by fuzz/run.sh. The first
 * bytes of an input choose the format, interval, lateness, starting time
 * state and block size; the rest is the log, fed block by block as
 * hitwatch.native does (whole lines, the last block maybe without a final
 * newline). Besides memory errors, it checks the kernel's own accounting:
 * every line is a record, a late, an invalid, a header or an empty line, and
 * every counted key belongs to an interval of the block.
 */
#include <assert.h>
#include <stdio.h>

#include "../src/hitwatch/native/kernel_core.h"

static void check_block(hw_kernel *K, const uint8_t *data, size_t n) {
    int64_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += data[i] == '\n';
    if (n && data[n - 1] != '\n') lines++;
    if (K->lines != lines) {
        fprintf(stderr, "lines %lld != %lld\n", (long long)K->lines, (long long)lines);
        abort();
    }
    /* rows include late lines; records are rows - late */
    if (K->rows + K->invalid + K->headers + K->empty != K->lines) {
        fprintf(stderr, "accounting: rows %lld invalid %lld headers %lld empty %lld lines %lld\n",
                (long long)K->rows, (long long)K->invalid, (long long)K->headers,
                (long long)K->empty, (long long)K->lines);
        abort();
    }
    int64_t hits = 0, seconds = 0, late = 0, invalid = 0;
    for (size_t i = 0; i < K->ivs_cap; i++)
        if (K->ivs[i].used) {
            hits += K->ivs[i].hits;
            late += K->ivs[i].late;
            invalid += K->ivs[i].invalid;
            int64_t st = 0;
            for (int c = 0; c < 5; c++) st += K->ivs[i].status[c];
            if (st != K->ivs[i].hits) abort();
        }
    for (size_t i = 0; i < K->secs_cap; i++)
        if (K->secs[i].ts >= 0) {
            seconds += K->secs[i].hits;
            if (K->started && K->secs[i].ts <= K->start - 1) abort(); /* before the timeline */
        }
    if (hits != seconds || hits != K->rows - K->late || late != K->late) abort();
    if (K->started && invalid + K->pending_invalid > K->invalid + 0x7fffffff) abort();
    int64_t per_kind[3] = {0, 0, 0};
    for (size_t i = 0; i < K->keys_cap; i++) {
        hw_key *e = &K->keys[i];
        if (e->kind == UINT32_MAX) continue;
        if (e->kind > 2 || e->off + e->len > K->arena_n) abort();
        per_kind[e->kind] += e->count;
        size_t mask = K->ivs_cap - 1, j = hw_mix((uint64_t)e->k) & mask;
        while (K->ivs[j].used && K->ivs[j].k != e->k) j = (j + 1) & mask;
        if (!K->ivs[j].used) abort(); /* a key without its interval */
    }
    for (int k = 0; k < 3; k++)
        if (per_kind[k] != hits) abort();
    for (size_t i = 0; i < K->bad_n; i++)
        if (K->bad[i].reason < 1 || K->bad[i].reason > 8) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int format = data[0] & 1;
    int64_t interval = 1 + (data[0] >> 1) % 60;
    int64_t lateness = data[1] % 7 == 6 ? 300 : data[1] % 7;
    size_t block = 1 + (size_t)data[2] * 4;
    int started = data[3] & 1;
    data += 4;
    size -= 4;
    hw_kernel K;
    if (hw_init(&K, format, interval, lateness, 0x1234) < 0) abort();
    /* carry the time state from block to block, as Engine.absorb does */
    int64_t start = 0, final = -1, max_ts = -1, min_ts = 0, pending = 0;
    if (started) {
        start = 1700000000;
        final = start - 1;
        max_ts = start;
    }
    size_t pos = 0;
    int64_t lineno = 1;
    while (pos < size) {
        size_t end = pos + block < size ? pos + block : size;
        while (end < size && data[end - 1] != '\n') end++;
        hw_tables_clear(&K);
        K.started = started;
        K.start = start;
        K.final = final;
        K.max_ts = max_ts;
        K.min_ts = min_ts;
        K.pending_invalid = pending;
        if (hw_feed(&K, data + pos, end - pos, lineno) < 0) abort();
        check_block(&K, data + pos, end - pos);
        if (K.final < final || K.max_ts < max_ts) abort(); /* time never goes back */
        started = K.started;
        start = K.start;
        final = K.final;
        max_ts = K.max_ts;
        min_ts = K.min_ts;
        pending = K.pending_invalid;
        lineno += K.lines;
        pos = end;
    }
    hw_free(&K);
    return 0;
}
