#!/usr/bin/env bash
# fuzz.sh TIME — run every fuzz target for TIME (e.g. 5s, or 1000000x executions) and fail if
# any finds a crash. A new failing input is written under the package's testdata/fuzz/ by go test.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
T=${1:-5s}
passed=0
failed=0
for pkg in $($GO list ./pkg/...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    out=$($GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$T" -fuzzminimizetime 5s "$pkg" 2>&1)
    code=$?
    echo "$out" | grep -v '^fuzz: elapsed' | tail -3
    if [ $code -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "$out" | tail -30; fi
  done
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
