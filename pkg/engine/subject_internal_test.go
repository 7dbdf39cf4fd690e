package engine

import (
	"strconv"
	"testing"

	"github.com/corridor-dev/corridor/pkg/natsbus"
)

func TestSubjectIDs(t *testing.T) {
	b := strconv.Itoa(natsbus.Bucket("v1"))
	for _, c := range []struct {
		subject, carrier, vehicle, bucket string
		ok                                bool
	}{
		{"telemetry.c1.v1", "c1", "v1", "", true},
		{"telemetry.c1.v1." + b, "c1", "v1", b, true},
		{"telemetry.c1.v1.x", "c1", "v1", "x", true}, // parsed; process dead-letters the wrong bucket
		{"telemetry.c1.v1." + b + ".z", "", "", "", false},
		{"telemetry.c1.v1.", "", "", "", false},
		{"telemetry.c1", "", "", "", false},
		{"telemetry..v1", "", "", "", false},
		{"other.c1.v1", "", "", "", false},
	} {
		c1, v, bk, ok := subjectIDs(c.subject)
		if ok != c.ok || (ok && (c1 != c.carrier || v != c.vehicle || bk != c.bucket)) {
			t.Errorf("subjectIDs(%q) = %q %q %q %v", c.subject, c1, v, bk, ok)
		}
	}
	if got := publishedSubject("telemetry.c1.v1." + b); got != "telemetry.c1.v1" {
		t.Errorf("publishedSubject = %q", got)
	}
	if got := publishedSubject("telemetry.c1.v1.x"); got != "telemetry.c1.v1.x" {
		t.Errorf("publishedSubject of a wrong bucket = %q, want it kept", got)
	}
}
