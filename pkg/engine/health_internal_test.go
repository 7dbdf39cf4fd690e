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
