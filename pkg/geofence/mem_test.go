package geofence_test

import (
	"runtime"
	"testing"
)

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// cpuMeter reports, next to the wall-clock ns/op, the CPU time the benchmark's own thread spent
// per operation (cpu-ns/op) and the rate that makes on one core (ops/cpu-s): on a shared, noisy
// machine these show what one core does even when other processes take turns on it.
type cpuMeter struct {
	b     *testing.B
	start int64
}

func startCPU(b *testing.B) *cpuMeter {
	runtime.LockOSThread()
	return &cpuMeter{b: b, start: threadCPUNanos()}
}

func (m *cpuMeter) stop(unit string) {
	ns := threadCPUNanos() - m.start
	runtime.UnlockOSThread()
	if ns <= 0 || m.b.N == 0 {
		return
	}
	m.b.ReportMetric(float64(ns)/float64(m.b.N), "cpu-ns/op")
	m.b.ReportMetric(float64(m.b.N)/(float64(ns)/1e9), unit+"/cpu-s")
}
