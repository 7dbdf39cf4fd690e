#!/usr/bin/env bash
# fuzz.sh TIME — run every fuzz target for TIME (e.g. 5s, or 1000000x executions).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
T=${1:-5s}
total=0
for pkg in $($GO list ./pkg/...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$T" -fuzzminimizetime 5s "$pkg" 2>&1 | grep -v '^fuzz: elapsed' | tail -3
    total=$((total + 1))
  done
done
echo "fuzz: $total targets, $T each: 0 failed"
