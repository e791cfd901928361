#!/usr/bin/env bash
# CI's short fuzz run of the native kernel (at most ~60 s, builds included):
# two thirds of the time on the SSE2 parsing paths, a third on the portable ones.
set -euo pipefail
seconds="${1:-40}"
here="$(dirname "$0")"
"$here/run.sh" "$((seconds * 2 / 3))"
FUZZ_CFLAGS=-DHW_NO_SIMD "$here/run.sh" "$((seconds / 3))"
