/* Times the pure-C kernel (kernel_core.h) on a log file, without Python:
 *     cc -O3 -o /tmp/kernel_bench fuzz/kernel_bench.c && /tmp/kernel_bench FILE [csv|clf] [block]
 */
#include <stdio.h>
#include <time.h>

#include "../src/hitwatch/native/kernel_core.h"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)n);
    if (fread(data, 1, (size_t)n, f) != (size_t)n) return 2;
    fclose(f);
    int fmt = argc > 2 && strcmp(argv[2], "clf") == 0 ? HW_CLF : HW_CSV;
    size_t block = argc > 3 ? (size_t)atol(argv[3]) : (1u << 20);
    int reps = argc > 4 ? atoi(argv[4]) : 1;
    hw_kernel K;
    if (hw_init(&K, fmt, 10, 300, 12345) < 0) return 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t lines = 0, rows = 0, invalid = 0;
    size_t pos = 0;
    for (int rep = 0; rep < reps; rep++, pos = 0)
    while (pos < (size_t)n) {
        size_t end = pos + block < (size_t)n ? pos + block : (size_t)n;
        while (end < (size_t)n && data[end - 1] != '\n') end++;
        hw_feed(&K, data + pos, end - pos, lines + 1);
        lines += K.lines;
        rows += K.rows;
        invalid += K.invalid;
        hw_result_free(&K, hw_detach(&K, 0));
        hw_counts_clear(&K);
        pos = end;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%lld lines, %lld rows, %lld invalid: %.3f s, %.2f M lines/s, %.0f MB/s\n",
           (long long)lines, (long long)rows, (long long)invalid, s, lines / s / 1e6,
           n / s / 1e6);
    hw_free(&K);
    free(data);
    return 0;
}
