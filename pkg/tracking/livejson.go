package tracking

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the JSON of s, byte for byte what encoding/json makes of it, without
// reflection: the engine encodes a live state for every fix it publishes and every vehicle it
// checkpoints. Values encoding/json writes in an unusual form (a string needing escapes, a
// float in exponent form, a time not in UTC or outside years 0–9999) go through encoding/json
// itself.
func (s *VehicleState) AppendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"vehicle_id":`...)
	b = appendJSONString(b, s.VehicleID)
	b = append(b, `,"carrier_id":`...)
	b = appendJSONString(b, s.CarrierID)
	b = append(b, `,"plate":`...)
	b = appendJSONString(b, s.Plate)
	b = append(b, `,"ts":`...)
	if b, err = appendJSONTime(b, s.TS); err != nil {
		return nil, err
	}
	b = append(b, `,"lat":`...)
	if b, err = appendJSONFloat(b, s.Lat); err != nil {
		return nil, err
	}
	b = append(b, `,"lon":`...)
	if b, err = appendJSONFloat(b, s.Lon); err != nil {
		return nil, err
	}
	b = append(b, `,"speed_kmh":`...)
	if b, err = appendJSONFloatPtr(b, s.SpeedKmh); err != nil {
		return nil, err
	}
	b = append(b, `,"heading_deg":`...)
	if b, err = appendJSONFloatPtr(b, s.HeadingDeg); err != nil {
		return nil, err
	}
	b = append(b, `,"status":`...)
	b = appendJSONString(b, s.Status)
	b = append(b, `,"trip_id":`...)
	b = appendJSONStringPtr(b, s.TripID)
	b = append(b, `,"corridor_id":`...)
	b = appendJSONStringPtr(b, s.CorridorID)
	b = append(b, `,"distance_m":`...)
	if b, err = appendJSONFloatPtr(b, s.DistanceM); err != nil {
		return nil, err
	}
	b = append(b, `,"progress_m":`...)
	if b, err = appendJSONFloatPtr(b, s.ProgressM); err != nil {
		return nil, err
	}
	b = append(b, `,"remaining_m":`...)
	if b, err = appendJSONFloatPtr(b, s.RemainingM); err != nil {
		return nil, err
	}
	b = append(b, `,"eta":`...)
	if s.ETA == nil {
		b = append(b, "null"...)
	} else if b, err = appendJSONTime(b, *s.ETA); err != nil {
		return nil, err
	}
	b = append(b, `,"updated_at":`...)
	if b, err = appendJSONTime(b, s.UpdatedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendJSONString quotes strings that need no escape (valid UTF-8 without control
// characters, `"`, `\`, `<`, `>`, `&`, U+2028 and U+2029) itself and leaves the rest to
// encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return appendJSONEscaped(b, s)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return appendJSONEscaped(b, s)
		}
		i += n
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendJSONEscaped(b []byte, s string) []byte {
	j, _ := json.Marshal(s) // a string always encodes
	return append(b, j...)
}

func appendJSONStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *s)
}

func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) || math.IsNaN(f) || math.IsInf(f, 0) {
		j, err := json.Marshal(f) // exponent form, or the error encoding/json gives
		if err != nil {
			return nil, err
		}
		return append(b, j...), nil
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), nil
}

func appendJSONFloatPtr(b []byte, f *float64) ([]byte, error) {
	if f == nil {
		return append(b, "null"...), nil
	}
	return appendJSONFloat(b, *f)
}

func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if _, off := t.Zone(); off != 0 || t.Year() < 0 || t.Year() > 9999 {
		j, err := t.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return append(b, j...), nil
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
