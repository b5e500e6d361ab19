#!/bin/sh
# Builds the CUDA launcher libraries for the Maven build of java/ (and for people: see README.md).
#   build.sh <build-dir> <output-dir>   configure + build with CMake; libraries and reports go to <output-dir>
#   build.sh test <build-dir> [skip]    runs the emulator's own tests (simt_test, linear_token_logprobs_test) if they were built; skip=true
#                                       (Maven's -DskipTests) skips them
# Without cmake, or without nvcc, the build stays green: only what can be built is built, and
# <output-dir>/libppo_cuda*.unavailable.txt says why the rest is missing (the Java backends report that text).
set -u
src=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = "test" ]; then
  if [ "${3:-false}" = "true" ]; then exit 0; fi
  dir="${2:?build dir}"
  if [ ! -x "$dir/simt_test" ]; then
    echo "cuda-kernels: $dir/simt_test was not built (no cmake at build time); emulator tests not run" >&2
    exit 0
  fi
  "$dir/simt_test" || exit 1
  # The linear_token_logprobs tile steps driven end to end on the emulator library.
  if [ -x "$dir/linear_token_logprobs_test" ]; then "$dir/linear_token_logprobs_test" || exit 1; fi
  exit 0
fi

build="${1:?build dir}"
out="${2:?output dir}"
mkdir -p "$out"
if ! command -v cmake >/dev/null 2>&1; then
  echo "cuda-kernels: cmake not found; the cuda and cuda-sim backends will be unavailable" >&2
  echo "libppo_cuda.so was not built: cmake was not found at build time" >"$out/libppo_cuda.unavailable.txt"
  echo "libppo_cuda_sim.so was not built: cmake was not found at build time" >"$out/libppo_cuda_sim.unavailable.txt"
  exit 0
fi
rm -f "$out/libppo_cuda_sim.unavailable.txt"

# nvcc: CUDACXX, PATH, CUDA_HOME, then the newest /usr/local/cuda*.
nvcc="${CUDACXX:-}"
if [ -z "$nvcc" ]; then nvcc=$(command -v nvcc 2>/dev/null || true); fi
if [ -z "$nvcc" ] && [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then nvcc="$CUDA_HOME/bin/nvcc"; fi
if [ -z "$nvcc" ]; then
  for d in /usr/local/cuda/bin $(ls -d /usr/local/cuda-*/bin 2>/dev/null | sort -V); do
    if [ -x "$d/nvcc" ]; then nvcc="$d/nvcc"; fi
  done
fi
set -- -DCMAKE_BUILD_TYPE=Release "-DPPO_OUTPUT_DIR=$out"
if [ -n "$nvcc" ]; then set -- "$@" "-DCMAKE_CUDA_COMPILER=$nvcc"; fi
mkdir -p "$build"
cmake -S "$src" -B "$build" "$@" >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
if ! cmake --build "$build" -j "${PPO_BUILD_JOBS:-2}" >"$build/build.log" 2>&1; then
  echo "cuda-kernels: build FAILED; see $build/build.log" >&2
  grep -E 'error|Error' "$build/build.log" | head -n 30 >&2
  exit 1
fi
echo "cuda-kernels: built $(cd "$out" && ls libppo_cuda*.so 2>/dev/null | tr '\n' ' ')in $out" >&2
if [ -f "$out/libppo_cuda.ptxas.txt" ]; then
  grep '^total spill bytes' "$out/libppo_cuda.ptxas.txt" | sed 's/^/cuda-kernels: ptxas /' >&2
fi
if [ -f "$out/libppo_cuda.unavailable.txt" ]; then sed 's/^/cuda-kernels: /' "$out/libppo_cuda.unavailable.txt" >&2; fi
exit 0
