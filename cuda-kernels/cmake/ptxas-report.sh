#!/bin/sh
# Builds the ptxas report of libppo_cuda.so from the per-object nvcc logs (see keep-stderr.sh):
# one line per kernel and architecture with registers, spill stores/loads and stack frame, then the raw logs.
# Usage: ptxas-report.sh <log-dir> <report-file>
logdir="$1"
out="$2"
demangle=cat
if command -v c++filt >/dev/null 2>&1; then demangle=c++filt; fi
{
  echo "ptxas report of libppo_cuda.so (nvcc -Xptxas -v), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "kernel | arch | registers | spill stores (bytes) | spill loads (bytes) | stack frame (bytes) | shared (bytes)"
  for f in "$logdir"/*.log; do
    awk '
      /Compiling entry function/ { match($0, /function .[^'"'"']*/); fn = substr($0, RSTART + 10, RLENGTH - 10);
                                   match($0, /for .sm_[0-9a-z]*/); arch = substr($0, RSTART + 5, RLENGTH - 5) }
      /bytes stack frame/ { stack = $1; spst = $5; spld = $9 }
      /Used [0-9]+ registers/ { match($0, /Used [0-9]+/); regs = substr($0, RSTART + 5, RLENGTH - 5);
                                smem = 0; if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH - 11);
                                print fn " | " arch " | " regs " | " spst " | " spld " | " stack " | " smem }
    ' "$f"
  done | $demangle | sed -E 's/\(anonymous namespace\):://g; s/^void //; s/\([^|]*\) \|/ |/' | sort -u
  spills=$(cat "$logdir"/*.log | awk '/bytes stack frame/ { s += $5 + $9 } END { print s + 0 }')
  echo "total spill bytes: $spills"
  echo
  echo "---- raw nvcc output ----"
  cat "$logdir"/*.log
} >"$out"
