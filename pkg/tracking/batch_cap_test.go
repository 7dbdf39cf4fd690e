package tracking

import (
	"strings"
	"testing"
	"time"
)

// The item cap is checked while the array is read, before the rest is decoded: an array with
// more than max items is refused for its size even when its tail is not even JSON, and a huge
// array of tiny items costs about max items of work.
func TestDecodePositionsCapBeforeDecoding(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := "[" + strings.Repeat("{},", 1001) + "{ this is not JSON"
	_, err := DecodePositions([]byte(body), now, 1000)
	if err == nil || !strings.Contains(err.Error(), "more than 1000 positions") {
		t.Fatalf("err = %v, want the 1000-item cap", err)
	}

	huge := []byte("[" + strings.Repeat("0,", 500_000) + "0]")
	allocs := testing.AllocsPerRun(3, func() { _, _ = DecodePositions(huge, now, 1000) })
	if allocs > 20_000 {
		t.Fatalf("%.0f allocations for a refused 500,000-item array; the cap must stop decoding early", allocs)
	}

	for _, tc := range []struct{ body, want string }{
		{"[]", "empty array"},
		{"[{}] x", "malformed JSON"},
		{"[{}", "malformed JSON"},
		{`[{"vehicle_id":`, "malformed JSON"},
	} {
		if _, err := DecodePositions([]byte(tc.body), now, 1000); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.body, err, tc.want)
		}
	}
}
