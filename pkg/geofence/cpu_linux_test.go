//go:build linux

package geofence_test

import "syscall"

// threadCPUNanos is the calling thread's CPU time (user + system), RUSAGE_THREAD.
func threadCPUNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
