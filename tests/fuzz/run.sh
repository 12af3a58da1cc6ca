#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/fuzz/run.sh [SECONDS] - build the parser fuzzers with clang's libFuzzer
# (+ ASan + UBSan) and run each for SECONDS (default 600) on a copy of its
# corpus; new inputs land in build-fuzz/corpus-<name>.  Needs clang and
# libclang-rt (Debian: clang-14, libclang-rt-14-dev).  CTest replays the seed
# corpora without libFuzzer (fuzz.replay-*).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-600}
out=build-fuzz
mkdir -p "$out"
inc="-Iinclude -Isrc/util -Isrc/data -Ibuild/include"
[ -f build/include/hetgrad/version.h ] || cmake -S . -B build >/dev/null
for name in csv libsvm idx npy libsvm_csr; do
    clang -g -O1 -fsanitize=fuzzer,address,undefined $inc \
        tests/fuzz/fuzz_$name.c src/data/dataset_io.c src/data/data_csr.c src/data/data_gzip.c src/data/data_npy.c \
        src/util/status.c src/util/cl_names.c src/util/strutil.c src/util/sized.c -lz -lm -o "$out/fuzz_$name"
    mkdir -p "$out/corpus-$name"
    # the CSR loader starts from the LIBSVM corpus
    cp -n tests/fuzz/corpus/${name%_csr}/* "$out/corpus-$name/" 2>/dev/null || true
done
for name in csv libsvm idx npy libsvm_csr; do
    "$out/fuzz_$name" -max_total_time="$secs" -max_len=8192 -print_final_stats=1 \
        "$out/corpus-$name" > "$out/fuzz_$name.log" 2>&1 &
done
wait
for name in csv libsvm idx npy libsvm_csr; do
    echo "== $name"
    grep -E "stat::number_of_executed_units|stat::peak_rss|SUMMARY|ERROR|crash-" "$out/fuzz_$name.log" || true
done
