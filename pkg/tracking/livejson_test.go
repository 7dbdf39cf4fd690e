package tracking

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestVehicleStateAppendJSONMatchesEncodingJSON: AppendJSON writes exactly what json.Marshal
// writes, over random states with odd strings, floats, nils and times.
func TestVehicleStateAppendJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "v1", "渝A12345", `a"b`, `back\slash`, "<tag>&", "tab\there", "\u2028", "bad\xffutf8", "on_route"}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 29.80012345, 107.5, 1e-7, -3e-9, 1e21, 123456789012345678901.0, 0.1, 1e20, 5e-324, math.MaxFloat64}
	times := []time.Time{{}, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 8, 0, 0, 123456789, time.UTC),
		time.Date(2026, 3, 1, 8, 0, 0, 120000000, time.FixedZone("CST", 8*3600)), time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(), time.Now().UTC()}
	pick := func() *float64 {
		if rng.IntN(3) == 0 {
			return nil
		}
		f := floats[rng.IntN(len(floats))]
		if rng.IntN(2) == 0 {
			f = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(30)-10))
		}
		return &f
	}
	str := func() string { return strs[rng.IntN(len(strs))] }
	tm := func() time.Time { return times[rng.IntN(len(times))] }
	for i := 0; i < 20000; i++ {
		s := VehicleState{VehicleID: str(), CarrierID: str(), Plate: str(), TS: tm(), Lat: *pick2(pick), Lon: *pick2(pick),
			SpeedKmh: pick(), HeadingDeg: pick(), Status: str(), DistanceM: pick(), ProgressM: pick(), RemainingM: pick(), UpdatedAt: tm()}
		if rng.IntN(2) == 0 {
			x, y := str(), str()
			s.TripID, s.CorridorID = &x, &y
		}
		if rng.IntN(2) == 0 {
			e := tm()
			s.ETA = &e
		}
		want, werr := json.Marshal(&s)
		got, gerr := s.AppendJSON(nil)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("state %+v:\nAppendJSON %s (%v)\njson       %s (%v)", s, got, gerr, want, werr)
		}
	}
	nan := math.NaN()
	if _, err := (&VehicleState{SpeedKmh: &nan}).AppendJSON(nil); err == nil {
		t.Fatal("NaN encoded")
	}
}

func pick2(f func() *float64) *float64 {
	if p := f(); p != nil {
		return p
	}
	z := 0.0
	return &z
}

func BenchmarkVehicleStateJSON(b *testing.B) {
	sp, d, pr, rem := 62.5, 12.25, 1234.5, 50000.0
	trip, cor := "8b0e0c36-3d8a-4c59-a6a5-2a3cfb1fbd51", "0b9b3f3e-1a3c-44a4-9d0f-0f8a8a7d3b11"
	eta := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := VehicleState{VehicleID: "veh-0001234", CarrierID: "c1", Plate: "渝A12345", TS: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
		Lat: 29.80012, Lon: 107.01234, SpeedKmh: &sp, HeadingDeg: &d, Status: StatusOnRoute, TripID: &trip, CorridorID: &cor,
		DistanceM: &d, ProgressM: &pr, RemainingM: &rem, ETA: &eta, UpdatedAt: time.Date(2026, 3, 1, 8, 0, 1, 123000000, time.UTC)}
	b.Run("encoding/json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal(&s)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for i := 0; i < b.N; i++ {
			buf, _ = s.AppendJSON(buf[:0])
		}
	})
}
