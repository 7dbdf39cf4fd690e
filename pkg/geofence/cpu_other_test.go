//go:build !linux

package geofence_test

// threadCPUNanos is not measured off Linux.
func threadCPUNanos() int64 { return 0 }
