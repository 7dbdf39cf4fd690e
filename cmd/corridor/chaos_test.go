package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestVerdictTable(t *testing.T) {
	var b bytes.Buffer
	if !verdictTable(&b, []verdict{{"embedded", "lost", "0 of 10", true}}) {
		t.Fatal("all passed, but the table says otherwise")
	}
	if verdictTable(&b, []verdict{{"embedded", "lost", "0 of 10", true}, {"2.9", "recovered", "after 12s", false}}) {
		t.Fatal("a failed check passed")
	}
	if !strings.Contains(b.String(), "| 2.9      | recovered | after 12s | FAIL    |") {
		t.Fatalf("table:\n%s", b.String())
	}
}

// The chaos load's fixes raise one route_deviation per cycle of 8 (4 on, 4 off the corridor),
// started at the cycle's first off fix and raised at its third; a cycle cut before its third off
// fix raises nothing.
func TestChaosExpectedDeviations(t *testing.T) {
	l := &chaosLoad{t0: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct{ k, want int }{{0, 0}, {6, 0}, {7, 1}, {8, 1}, {14, 1}, {15, 2}, {800, 100}} {
		got := l.expectedDeviations(tc.k)
		if len(got) != tc.want {
			t.Errorf("%d fixes: %d deviations, want %d", tc.k, len(got), tc.want)
		}
		for c, s := range got {
			if !s.Equal(l.fix(1, c*chaosCycle+4).TS) || l.fix(1, c*chaosCycle+4).Lat != 29.805 || l.fix(1, c*chaosCycle+3).Lat != 29.8001 {
				t.Errorf("deviation %d starts at %v", c, s)
			}
		}
	}
}

func TestChaosAndBenchFlags(t *testing.T) {
	o, err := parseChaosFlags([]string{"--nats", "embedded,/nonexistent/nats-server", "--rate", "10"}, io.Discard)
	if err != nil || len(o.nats) != 1 || o.nats[0] != "embedded" || o.rate != 10 {
		t.Fatalf("%+v %v", o, err)
	}
	if o, err := parseChaosFlags([]string{"--nats", "embedded", "--vehicles", "10000", "--backlog", "20"}, io.Discard); err != nil || o.backlog != 20 {
		t.Fatalf("--backlog: %+v %v", o, err)
	}
	if _, err := parseChaosFlags([]string{"--nats", "embedded", "--backlog", "-1"}, io.Discard); err == nil {
		t.Fatal("a negative backlog was accepted")
	}
	if _, err := parseChaosFlags([]string{"--nats", "/nonexistent"}, io.Discard); err == nil {
		t.Fatal("no NATS server to run against was accepted")
	}
	e, err := parseE2EFlags([]string{"--vehicles", "100", "--engines", "1,2", "--mem-vehicles", "100,1_000", "--rates", ""}, io.Discard)
	if err != nil || len(e.engines) != 2 || len(e.rates) != 0 || e.memVehicles[1] != 1000 {
		t.Fatalf("%+v %v", e, err)
	}
	if _, err := parseE2EFlags([]string{"--vehicles", "100", "--mem-vehicles", "50"}, io.Discard); err == nil {
		t.Fatal("fewer memory vehicles than vehicles accepted")
	}
	if _, err := parseE2EFlags([]string{"--engines", "x"}, io.Discard); err == nil {
		t.Fatal("bad --engines accepted")
	}
}

func TestE2ESummaryTable(t *testing.T) {
	s := &e2eSummary{o: e2eFlags{vehicles: 10000, corridors: 50, fixes: 20, rateDuration: 10 * time.Second}, msgSize: 240,
		barePub: 50000, bareCons: 100000,
		drains: []engineDrain{{1, drainResult{fixes: 200000, drained: 4 * time.Second}}, {2, drainResult{fixes: 200000, stalled: true, persisted: 5}}},
		storm:  &stormResult{vehicles: 10000, raised: 1500 * time.Millisecond, cleared: 900 * time.Millisecond},
		lat:    []latencyResult{{rate: 20000, sent: 200000, matched: 150000, sendRate: 19990, p50: 3 * time.Millisecond, p99: 40 * time.Millisecond, max: time.Second}},
		mem:    []memResult{{vehicles: 10000, heap: 10 << 20, rss: 40 << 20}, {vehicles: 100000, heap: 100 << 20, rss: 200 << 20}},
	}
	var b bytes.Buffer
	s.table().write(&b)
	out := b.String()
	for _, want := range []string{"| 50,000/s ", "50,000/s (50 % of bare consume)", "STALLED: 5 of 200,000", "1500 ms", "900 ms",
		"3.0 ms / 40 ms / 1000 ms", "heap 1.0 KiB/vehicle (10.0 MiB in all)", "marginal heap 1.0 KiB/vehicle"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
