package engine

import (
	"strings"
	"testing"
	"time"
)

// One partition's failure keeps the engine not ready, whatever another partition does: health
// is per partition (the single health of the one-partition engine was cleared by any success).
func TestReadyPerPartition(t *testing.T) {
	e := New(Config{}, nil, nil, nil, nil)
	e.ready.Store(true)
	bad, good := &health{}, &health{}
	e.phealth[0], e.phealth[1] = bad, good
	bad.set("batch failing: boom")
	bad.mu.Lock()
	bad.since = time.Now().Add(-2 * failGrace)
	bad.mu.Unlock()
	good.set("NATS: blip")
	e.precovered(&partition{spec: partSpec{k: 1}, health: good})
	if err := e.Ready(); err == nil || !strings.Contains(err.Error(), "partition 0") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Ready() = %v, want partition 0's failure", err)
	}
	e.precovered(&partition{spec: partSpec{k: 0}, health: bad})
	if err := e.Ready(); err != nil {
		t.Fatalf("Ready() = %v after partition 0 recovered", err)
	}
}

// A bucket held by no engine for 10 s (engines configured with different numbers of
// partitions can leave some so) makes the engine not ready, naming the buckets.
func TestReadyUncoveredBuckets(t *testing.T) {
	e := New(Config{}, nil, nil, nil, nil)
	e.ready.Store(true)
	busy := map[int]bool{}
	for b := 0; b < 64; b++ {
		busy[b] = b != 2 && b != 6
	}
	var since time.Time
	e.checkCoverage(busy, &since, plan{n: 4})
	if err := e.Ready(); err != nil || since.IsZero() {
		t.Fatalf("Ready() = %v at once (since %v)", err, since)
	}
	since = time.Now().Add(-11 * time.Second)
	e.checkCoverage(busy, &since, plan{n: 4})
	e.coverage.mu.Lock()
	e.coverage.since = time.Now().Add(-2 * failGrace)
	e.coverage.mu.Unlock()
	if err := e.Ready(); err == nil || !strings.Contains(err.Error(), "[2 6]") {
		t.Fatalf("Ready() = %v, want buckets 2 and 6 named", err)
	}
	busy[2], busy[6] = true, true
	e.checkCoverage(busy, &since, plan{n: 4})
	if err := e.Ready(); err != nil || !since.IsZero() {
		t.Fatalf("Ready() = %v once every bucket is held", err)
	}
}
