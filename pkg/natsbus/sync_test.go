package natsbus_test

import (
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/natsbus"
)

func TestParseSync(t *testing.T) {
	for in, want := range map[string]time.Duration{"always": natsbus.SyncAlways, "ALWAYS": natsbus.SyncAlways,
		"100ms": 100 * time.Millisecond, "2s": 2 * time.Second} {
		if got, err := natsbus.ParseSync(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "never", "0s", "-1s", "10"} {
		if _, err := natsbus.ParseSync(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// The embedded server syncs JetStream to disk as configured: before every acknowledgement with
// SyncAlways, else every interval (DefaultSync unless set).
func TestEmbeddedSync(t *testing.T) {
	for _, c := range []struct {
		sync     time.Duration
		always   bool
		interval time.Duration
	}{{natsbus.SyncAlways, true, natsbus.DefaultSync}, {0, false, natsbus.DefaultSync}, {time.Second, false, time.Second}} {
		ns, err := natsbus.StartEmbeddedAuth("127.0.0.1:0", t.TempDir(), "", c.sync, nil)
		if err != nil {
			t.Fatal(err)
		}
		js := ns.JetStreamConfig()
		ns.Shutdown()
		if js == nil || js.SyncAlways != c.always || js.SyncInterval != c.interval {
			t.Errorf("sync %v: JetStream config %+v", c.sync, js)
		}
	}
}
