// Package waitfor is the tests' one way to wait: poll a condition until it holds or a deadline
// passes (nats-server's checkFor), never sleep for a guessed time.
package waitfor

import (
	"testing"
	"time"
)

// Every is how often the condition is polled.
const Every = 10 * time.Millisecond

// For polls cond every Every until it holds, and fails the test when d passes first.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(Every)
	}
}
