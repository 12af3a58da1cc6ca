#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/lsan_rerun_check.sh - CTest lsan_rerun.selftest: tests/lsan_rerun.sh runs a
# program again without leak detection only after LeakSanitizer's own crash, and
# passes every other outcome through (a leak report, a failure, a success).
set -u
r=$(dirname "$0")/lsan_rerun.sh
bad=0
crash='echo "Tracer caught signal 11: addr=0x520"
echo "==1==LeakSanitizer has encountered a fatal error."
case $ASAN_OPTIONS in *detect_leaks=0*) exit 0 ;; esac
exit 1'
leak='echo "==1==ERROR: LeakSanitizer: detected memory leaks"
echo "==1==LeakSanitizer has encountered a fatal error."
exit 1'
expect() { # want-status what command...
    want=$1 what=$2
    shift 2
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 sh "$r" "$@" >/dev/null 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "lsan_rerun: $what: exit $got, want $want"
        bad=1
    fi
}
expect 0 "the tracer's crash, then a clean run without leak detection" sh -c "$crash"
expect 1 "a leak report" sh -c "$leak"
expect 3 "another failure" sh -c 'exit 3'
expect 0 "a success" sh -c 'exit 0'
[ "$bad" -eq 0 ] && echo "lsan_rerun: 4 cases as documented"
exit "$bad"
