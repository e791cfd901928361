#!/usr/bin/env bash
# Coverage-guided fuzzing of the native kernel with libFuzzer + AddressSanitizer
# + UndefinedBehaviorSanitizer.
#
#   fuzz/run.sh            # 10 minutes
#   fuzz/run.sh 3600       # an hour; -jobs/-workers can be added via FUZZ_ARGS
#   FUZZ_ARGS='-jobs=2 -workers=2' fuzz/run.sh 3600
#   FUZZ_CFLAGS=-DHW_NO_SIMD fuzz/run.sh     # the portable (non-SSE2) parsing loops
#
# Needs clang (installed with apt-get when missing and possible). Exits 0 with
# a message when it cannot build, non-zero when the fuzzer finds a crash (the
# reproducer is left in fuzz/artifacts/).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"

if ! command -v clang >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "fuzz: installing clang" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang) \
            >/dev/null 2>&1 || true
    fi
fi
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: skipped: clang is not available" >&2
    exit 0
fi

work="${FUZZ_WORK:-/tmp/hitwatch-fuzz}"
mkdir -p "$work/corpus" fuzz/artifacts
bin="$work/fuzz_kernel"
# FUZZ_CFLAGS=-DHW_NO_SIMD fuzzes the portable parsing loops instead of SSE2.
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    ${FUZZ_CFLAGS:-} -o "$bin" fuzz/fuzz_kernel.c 2>"$work/build.log"; then
    if grep -q "fuzzer" "$work/build.log"; then
        echo "fuzz: skipped: this clang cannot build libFuzzer targets" >&2
        cat "$work/build.log" >&2
        exit 0
    fi
    cat "$work/build.log" >&2
    exit 1
fi

# Seeds: the format bytes (the fourth: 1 started, 2 keep intervals, 4 record log,
# 8 its buffer reused), then real lines (small slices of the shared data).
seed() { printf '%b' "$1" >"$work/corpus/$2"; }
data="../shared/data"
if [ -d "$data" ]; then
    { printf '\x00\x06\x10\x00'; head -c 3000 "$data/sample_csv.txt"; } >"$work/corpus/seed-csv"
    { printf '\x01\x06\x10\x00'; head -c 3000 "$data/apache_logs"; } >"$work/corpus/seed-clf"
    { printf '\x00\x06\x10\x06'; head -c 3000 "$data/sample_csv.txt"; } >"$work/corpus/seed-csv-log2"
    { printf '\x01\x06\x10\x0e'; head -c 3000 "$data/apache_logs"; } >"$work/corpus/seed-clf-log2"
fi
seed '\x01\x01\x00\x01h - - [10/Oct/2000:13:55:36 -0700] "GET /a\\"b HTTP/1.0" 200 -\r\n' seed-clf2
seed '\x00\x00\x00\x00"h","-","-",1700000000,"GET http://x/a?b HTTP/1.1",200,1\n' seed-csv2
seed '\x00\x01\x00\x0e"h","-","-",1700000000,"GET /a/b HTTP/1.1",404,1\n"h\xc3","-","-",1700000002,"x",200,1\n"h","-","-",1699999990,"GET /late",500,1\n' seed-csv-log
seed '\x03\x00\x01\x06h - - [10/Oct/2000:13:55:36 -0700] "GET /a/b HTTP/1.0" 200 -\nh - - [10/Oct/2000:13:55:37 -0700] "\\x16" 503 1\n' seed-clf-log
# Descriptions (the fourth byte's 16; 32: raw), then a length and the items
# (see make_desc): vcombined + %D, with its log on and a line not of it; raw.
vdesc='\x17\x21\x10\x01\x00\x05\x00\x01\x00\x01\x08\x09\x0c\x0e\x00\x19\x00\x1d\x00\x02\x00\x02\x00\x8d'
vline='www.example.com:443 10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET /api/user?id=7 HTTP/1.1" 200 1234 "-" "curl/8.4.0" 41535\n'
seed "\x01\x06\x10\x10$vdesc$vline$vline" seed-desc
seed "\x15\x01\x00\x1e$vdesc$vline${vline/200/404}\nx\n$vline" seed-desc-log
seed '\x01\x01\x00\x30\x11\x00\x01\x02\x03\x00sec\x00\x00\x01\x00 \x01\x06\x00\x001700000000 200\n' seed-desc-raw

# The fuzzer's own exit status decides (pipefail and `|| true` would hide it).
set +e
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$bin" "$work/corpus" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix=fuzz/artifacts/ ${FUZZ_ARGS:-} >"$work/fuzz.log" 2>&1
status=$?
set -e
grep -aE "^#[0-9]+ +(INITED|DONE)|ERROR|SUMMARY|stat::number_of_executed_units|stat::peak_rss" \
    "$work/fuzz.log" || true
if [ "$status" != 0 ]; then
    echo "fuzz: FAILED (see $work/fuzz.log and fuzz/artifacts/)" >&2
    exit "$status"
fi
runs=$(grep -ao "stat::number_of_executed_units: *[0-9]*" "$work/fuzz.log" | grep -o "[0-9]*$" || echo "?")
echo "fuzz: ok: $runs inputs ran clean in ${seconds}s"
