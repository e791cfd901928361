/* Times the pure-C kernel (kernel_core.h) on a log file, without Python:
 *     cc -O3 -o /tmp/kernel_bench fuzz/kernel_bench.c && /tmp/kernel_bench FILE [csv|clf|DESC] [block] [reps] [records]
 * DESC is a file holding a description as the kernel takes it, e.g.
 *     python -c 'import sys; from hitwatch import formats, native;
 *         sys.stdout.buffer.write(native.description(formats.resolve(log_format=sys.argv[1])))' \
 *         '%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D' > /tmp/vcombined.desc
 * With `records` (1), the record log is on; complete intervals are ranked
 * (hw_compact) as a worker thread does.
 */
#include <stdio.h>
#include <time.h>

#include "../src/hitwatch/native/kernel_core.h"

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)n + 1);
    if (data == NULL || fread(data, 1, (size_t)n, f) != (size_t)n) return NULL;
    fclose(f);
    *size = (size_t)n;
    return data;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    size_t n;
    uint8_t *data = slurp(argv[1], &n);
    if (data == NULL) return 2;
    int fmt = HW_CSV;
    hw_desc D;
    memset(&D, 0, sizeof D);
    if (argc > 2 && strcmp(argv[2], "clf") == 0) {
        fmt = HW_CLF;
    } else if (argc > 2 && strcmp(argv[2], "csv") != 0) {
        size_t dn;
        uint8_t *blob = slurp(argv[2], &dn);
        const char *why = blob ? hw_desc_load(&D, blob, dn) : "cannot read it";
        if (why) {
            fprintf(stderr, "%s: %s\n", argv[2], why);
            return 2;
        }
        free(blob);
        fmt = HW_DESC;
    }
    size_t block = argc > 3 ? (size_t)atol(argv[3]) : (1u << 20);
    int reps = argc > 4 ? atoi(argv[4]) : 1;
    int records = argc > 5 ? atoi(argv[5]) : 0;
    hw_kernel K;
    if (hw_init(&K, fmt, 10, 300, 12345) < 0) return 1;
    if (fmt == HW_DESC) hw_set_desc(&K, &D);
    K.records = records;
    hw_ranked *rank_buf = NULL;
    size_t rank_cap = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t lines = 0, rows = 0, invalid = 0;
    size_t pos = 0;
    for (int rep = 0; rep < reps; rep++, pos = 0)
    while (pos < n) {
        size_t end = pos + block < n ? pos + block : n;
        while (end < n && data[end - 1] != '\n') end++;
        hw_feed(&K, data + pos, end - pos, lines + 1);
        lines += K.lines;
        rows += K.rows;
        invalid += K.invalid;
        hw_result *res = hw_detach(&K, 0);
        if (res == NULL || hw_compact_result(res, K.interval, -1, 5, &rank_buf, &rank_cap) < 0)
            return 1;
        hw_log_reuse(&K, res);
        hw_result_free(&K, res);
        hw_counts_clear(&K);
        pos = end;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%lld lines, %lld rows, %lld invalid: %.3f s, %.2f M lines/s, %.0f MB/s\n",
           (long long)lines, (long long)rows, (long long)invalid, s, lines / s / 1e6,
           n / s / 1e6);
    hw_free(&K);
    hw_desc_free(&D);
    free(rank_buf);
    free(data);
    return 0;
}
