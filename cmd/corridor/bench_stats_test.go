package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(5, 1, 4, 2, 3), 50, 3 * time.Millisecond},
		{ms(5, 1, 4, 2, 3), 100, 5 * time.Millisecond},
		{ms(5, 1, 4, 2, 3), 0, 1 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

func TestTableAndFormats(t *testing.T) {
	tb := table{head: []string{"what", "figure"}}
	tb.add("drained", fmtRate(12345.6))
	tb.add("p99 → live", fmtMs(1500*time.Microsecond))
	var b bytes.Buffer
	tb.write(&b)
	want := "| what       | figure   |\n" +
		"| ---------- | -------- |\n" +
		"| drained    | 12,346/s |\n" +
		"| p99 → live | 1.5 ms   |\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := fmtInt(in); got != want {
			t.Errorf("fmtInt(%d) = %s", in, got)
		}
	}
	if got := fmtBytes(1536); got != "1.5 KiB" {
		t.Errorf("fmtBytes = %s", got)
	}
	if got := fmtMs(123 * time.Millisecond); got != "123 ms" {
		t.Errorf("fmtMs = %s", got)
	}
	if rate(10, 0) != 0 || rate(10, 2*time.Second) != 5 {
		t.Error("rate")
	}
}

func TestMetricValues(t *testing.T) {
	text := `# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.2345e+07
process_resident_memory_bytes 4.5e+07
corridor_engine_fixes_total{result="ok"} 17
go_memstats_heap_inuse_bytes_other 3
`
	got, err := metricValues(strings.NewReader(text), "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "absent")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["go_memstats_heap_inuse_bytes"] != 12345000 || got["process_resident_memory_bytes"] != 45e6 {
		t.Fatalf("%v", got)
	}
	if _, err := metricValues(strings.NewReader("go_memstats_heap_inuse_bytes x\n"), "go_memstats_heap_inuse_bytes"); err == nil {
		t.Fatal("a bad value was read")
	}
}
