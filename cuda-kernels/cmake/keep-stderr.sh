#!/bin/sh
# Compiler launcher for nvcc (CMAKE_CUDA_COMPILER_LAUNCHER): runs the compile command unchanged and keeps its
# stderr — the `-Xptxas -v` report of registers and spills — in <log-dir>/<object name>.log; the log is shown
# only when the compile fails (the report is summarised by ptxas-report.sh instead).
# Usage: keep-stderr.sh <log-dir> <compiler> <args...>
logdir="$1"
shift
obj=unknown
prev=
for a in "$@"; do
  if [ "$prev" = "-o" ]; then obj=$(basename "$a"); fi
  prev="$a"
done
mkdir -p "$logdir"
log="$logdir/$obj.log"
"$@" 2>"$log"
rc=$?
if [ $rc -ne 0 ]; then cat "$log" >&2; fi
exit $rc
