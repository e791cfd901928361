#!/usr/bin/env bash
# CI's short fuzz run of the native kernel (at most ~60 s, build included).
exec "$(dirname "$0")/run.sh" "${1:-40}"
