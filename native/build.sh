#!/usr/bin/env bash
# Builds libppo_native.so for the Maven build of the java module and copies it where the jar picks it up.
#   native/build.sh BUILD_DIR OUT_DIR      (Maven: target/native-build, target/classes/native/linux-x86_64)
# Skips with a message (exit 0) when this is not linux x86-64 or cmake / a C compiler is missing, so the Java build
# still succeeds; the cpu backend then reports that the library is missing from the jar. A compile error in the
# sources themselves fails the build.
set -u
src="$(cd "$(dirname "$0")" && pwd)"
build="$1"
out="$2"
say() { echo "[ppo-native] $*"; }

if [ "$(uname -s)" != "Linux" ] || ! uname -m | grep -qE '^(x86_64|amd64)$'; then
    say "skipped: the native CPU library is built for linux x86-64 only (this is $(uname -s) $(uname -m))"
    exit 0
fi
if ! command -v cmake >/dev/null 2>&1; then
    say "skipped: cmake not found on PATH (install cmake >= 3.20 and gcc to build the cpu backend)"
    exit 0
fi
mkdir -p "$build"
if ! cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/configure.log" 2>&1; then
    say "skipped: cmake could not configure a C build (no C compiler?); see $build/configure.log"
    tail -n 5 "$build/configure.log" | sed 's/^/[ppo-native]   /'
    exit 0
fi
jobs="$(nproc 2>/dev/null || echo 2)"
if ! cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1; then
    say "FAILED: compiling native/ failed; see $build/build.log"
    grep -E 'error|Error' "$build/build.log" | head -n 20 | sed 's/^/[ppo-native]   /'
    exit 1
fi
mkdir -p "$out"
cp "$build/libppo_native.so" "$out/libppo_native.so"
say "built $out/libppo_native.so"
