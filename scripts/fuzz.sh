#!/usr/bin/env bash
# fuzz.sh [BUDGET] [MINIMIZE] — run every fuzz target for BUDGET executions (default 10000x; `make
# fuzz` passes 1000000x) and fail if any finds a crash. A new failing input is written under the
# package's testdata/fuzz/ by go test.
#
# Budgets are execution counts ("Nx"), not wall time: a duration budget makes go test's fuzz
# coordinator race its own deadline on a loaded machine and fail with "context deadline exceeded"
# (golang/go#75804) with no crasher at all. A duration is still accepted for a manual run.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
T=${1:-10000x}
M=${2:-2000x}
case "$T" in *x) ;; *) echo "fuzz: budget $T is wall time; prefer an execution count (e.g. 10000x)" >&2 ;; esac
passed=0
failed=0
for pkg in $($GO list ./pkg/...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    start=$SECONDS
    out=$($GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$T" -fuzzminimizetime "$M" -timeout 20m "$pkg" 2>&1)
    code=$?
    echo "$out" | grep -v '^fuzz: elapsed' | tail -3
    echo "   ($((SECONDS - start)) s)"
    if [ $code -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "$out" | tail -30; fi
  done
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
