#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/lsan_rerun.sh PROGRAM [ARG...] - run a test program of a sanitizer build
# (HG_SANITIZE); when LeakSanitizer itself fails at the program's exit ("Tracer
# caught signal 11 ... LeakSanitizer has encountered a fatal error": its
# stop-the-world pass crashing beside the OpenCL runtimes' threads, after every
# check passed), run the program once more with leak detection off, and say so.
# A leak LeakSanitizer reports ("detected memory leaks"), or any other failure,
# fails as it is: only the sanitizer's own crash is run again.  The first run's
# output is always shown, so CTest's failure patterns (Oclgrind's reports) see it.
out=$(mktemp) || exit 1
"$@" >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" -ne 0 ] && grep -q "LeakSanitizer has encountered a fatal error" "$out" &&
    ! grep -q "LeakSanitizer: detected memory leaks" "$out"; then
    echo "lsan_rerun: LeakSanitizer's tracer crashed at exit (no leak report); running" \
        "$1 again without leak detection"
    case ${ASAN_OPTIONS:-} in
        *detect_leaks=1*) ASAN_OPTIONS=$(echo "$ASAN_OPTIONS" | sed 's/detect_leaks=1/detect_leaks=0/') ;;
        *) ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" ;;
    esac
    export ASAN_OPTIONS
    "$@"
    rc=$?
fi
rm -f "$out"
exit "$rc"
