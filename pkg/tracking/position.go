package tracking

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"time"
)

// Dead-letter reason codes (CONTRACT §2).
const (
	ReasonMalformedJSON   = "malformed_json"
	ReasonInvalidField    = "invalid_field"
	ReasonUnknownVehicle  = "unknown_vehicle"
	ReasonCarrierMismatch = "carrier_mismatch"
	ReasonStaleFix        = "stale_fix"
	ReasonFutureFix       = "future_fix"
)

// Limits on fix time relative to the receiving clock (CONTRACT §2).
const (
	MaxFutureSkew = 2 * time.Minute
	MaxFixAge     = 7 * 24 * time.Hour
)

// positionWire mirrors Position for decoding: ts is kept raw so that a missing offset is an error.
type positionWire struct {
	VehicleID    *string         `json:"vehicle_id"`
	CarrierID    *string         `json:"carrier_id"`
	TS           *string         `json:"ts"`
	Lat          *float64        `json:"lat"`
	Lon          *float64        `json:"lon"`
	SpeedKmh     *float64        `json:"speed_kmh"`
	HeadingDeg   *float64        `json:"heading_deg"`
	AltitudeM    *float64        `json:"altitude_m"`
	AccuracyM    *float64        `json:"accuracy_m"`
	Satellites   *float64        `json:"satellites"`
	OdometerKm   *float64        `json:"odometer_km"`
	FuelPct      *float64        `json:"fuel_pct"`
	FuelL        *float64        `json:"fuel_l"`
	EngineRPM    *float64        `json:"engine_rpm"`
	CoolantC     *float64        `json:"coolant_c"`
	Ignition     *bool           `json:"ignition"`
	DeviceAlarms []string        `json:"device_alarms"`
	CAN          []CANFrame      `json:"can"`
	Extra        json.RawMessage `json:"-"`
}

// DecodePosition parses one JSON position and validates it against the clock now.
// A syntax error is EINVALID with reason malformed_json; a bad field is EINVALID with the
// field's reason (invalid_field, stale_fix or future_fix). Unknown fields are ignored.
func DecodePosition(data []byte, now time.Time) (Position, error) {
	var w positionWire
	if err := json.Unmarshal(data, &w); err != nil {
		return Position{}, malformed(err)
	}
	return w.position(now, nil)
}

// splitArray splits a JSON array into its items one at a time, refusing the array as soon as it
// has more than max items: a body of many tiny items costs at most max+1 item decodes.
func splitArray(data []byte, max int) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the '['
		return nil, malformed(err)
	}
	var raw []json.RawMessage
	for dec.More() {
		if len(raw) == max {
			return nil, Invalid(FieldError{Field: "body", Message: "more than " + strconv.Itoa(max) + " positions", Reason: ReasonInvalidField})
		}
		var item json.RawMessage
		if err := dec.Decode(&item); err != nil {
			return nil, malformed(err)
		}
		raw = append(raw, item)
	}
	if _, err := dec.Token(); err != nil { // the ']'
		return nil, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed(errors.New("invalid character after top-level value"))
	}
	if len(raw) == 0 {
		return nil, Invalid(FieldError{Field: "body", Message: "empty array", Reason: ReasonInvalidField})
	}
	return raw, nil
}

// DecodePositions parses a single object or an array of them (the HTTP push body), validating
// every item; all field errors carry their item index when the body was an array.
func DecodePositions(data []byte, now time.Time, max int) ([]Position, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		raw, err := splitArray(trimmed, max)
		if err != nil {
			return nil, err
		}
		out := make([]Position, 0, len(raw))
		var fields []FieldError
		for i, r := range raw {
			var w positionWire
			if err := json.Unmarshal(r, &w); err != nil {
				idx := i
				fields = append(fields, FieldError{Field: "body", Message: "not a position object: " + err.Error(), Index: &idx, Reason: ReasonMalformedJSON})
				continue
			}
			idx := i
			p, err := w.position(now, &idx)
			if err != nil {
				fields = append(fields, err.(*Error).Fields...)
				continue
			}
			out = append(out, p)
		}
		if len(fields) > 0 {
			return nil, Invalid(fields...)
		}
		return out, nil
	}
	p, err := DecodePosition(data, now)
	if err != nil {
		return nil, err
	}
	return []Position{p}, nil
}

func malformed(err error) *Error {
	return &Error{Code: EINVALID, Message: "malformed JSON: " + err.Error(),
		Fields: []FieldError{{Field: "body", Message: "malformed JSON: " + err.Error(), Reason: ReasonMalformedJSON}}}
}

func (w *positionWire) position(now time.Time, index *int) (Position, error) {
	var errs []FieldError
	bad := func(field, msg, reason string) {
		errs = append(errs, FieldError{Field: field, Message: msg, Index: index, Reason: reason})
	}
	p := Position{
		SpeedKmh: w.SpeedKmh, HeadingDeg: w.HeadingDeg, AltitudeM: w.AltitudeM, AccuracyM: w.AccuracyM,
		Satellites: w.Satellites, OdometerKm: w.OdometerKm, FuelPct: w.FuelPct, FuelL: w.FuelL,
		EngineRPM: w.EngineRPM, CoolantC: w.CoolantC, Ignition: w.Ignition,
		DeviceAlarms: w.DeviceAlarms, CAN: w.CAN,
	}
	switch {
	case w.VehicleID == nil:
		bad("vehicle_id", "required", ReasonInvalidField)
	case !ValidID(*w.VehicleID):
		bad("vehicle_id", "must match ^[A-Za-z0-9_-]{1,64}$", ReasonInvalidField)
	default:
		p.VehicleID = *w.VehicleID
	}
	if w.CarrierID != nil {
		if !ValidID(*w.CarrierID) {
			bad("carrier_id", "must match ^[A-Za-z0-9_-]{1,64}$", ReasonInvalidField)
		} else {
			p.CarrierID = *w.CarrierID
		}
	}
	if w.TS == nil {
		bad("ts", "required", ReasonInvalidField)
	} else if ts, err := time.Parse(time.RFC3339Nano, *w.TS); err != nil {
		bad("ts", "must be an RFC 3339 time with offset", ReasonInvalidField)
	} else {
		// History keeps microseconds (PostgreSQL timestamptz): fixes within one microsecond are
		// the same fix everywhere — de-duplication id, rules and history agree.
		ts = ts.Truncate(time.Microsecond)
		p.TS = ts
		if reason, detail := CheckFixTime(ts, now); reason != "" {
			bad("ts", detail, reason)
		}
	}
	if w.Lat == nil {
		bad("lat", "required", ReasonInvalidField)
	} else if !finite(*w.Lat) || *w.Lat < -90 || *w.Lat > 90 {
		bad("lat", "must be in [-90, 90]", ReasonInvalidField)
	} else {
		p.Lat = *w.Lat
	}
	if w.Lon == nil {
		bad("lon", "required", ReasonInvalidField)
	} else if !finite(*w.Lon) || *w.Lon < -180 || *w.Lon > 180 {
		bad("lon", "must be in [-180, 180]", ReasonInvalidField)
	} else {
		p.Lon = *w.Lon
	}
	if w.Lat != nil && w.Lon != nil && *w.Lat == 0 && *w.Lon == 0 {
		bad("lat", "lat and lon are both 0 (no fix)", ReasonInvalidField)
	}
	rangeCheck := func(field string, v *float64, lo, hi float64, hiOpen bool) {
		if v == nil {
			return
		}
		if !finite(*v) || *v < lo || *v > hi || (hiOpen && *v == hi) {
			if hiOpen {
				bad(field, "must be in ["+ftoa(lo)+", "+ftoa(hi)+")", ReasonInvalidField)
			} else {
				bad(field, "must be in ["+ftoa(lo)+", "+ftoa(hi)+"]", ReasonInvalidField)
			}
		}
	}
	rangeCheck("speed_kmh", w.SpeedKmh, 0, 300, false)
	rangeCheck("heading_deg", w.HeadingDeg, 0, 360, true)
	rangeCheck("fuel_pct", w.FuelPct, 0, 100, false)
	rangeCheck("satellites", w.Satellites, 0, 255, false)
	rangeCheck("accuracy_m", w.AccuracyM, 0, 1e6, false)
	rangeCheck("odometer_km", w.OdometerKm, 0, 1e9, false)
	rangeCheck("fuel_l", w.FuelL, 0, 1e6, false)
	rangeCheck("engine_rpm", w.EngineRPM, 0, 20000, false)
	rangeCheck("altitude_m", w.AltitudeM, -1000, 10000, false)
	rangeCheck("coolant_c", w.CoolantC, -100, 300, false)
	checkDeviceAlarms(w.DeviceAlarms, bad)
	for i, f := range w.CAN {
		if !isHex(f.ID, 1, 8) {
			bad("can["+strconv.Itoa(i)+"].id", "must be a 29-bit identifier in hex", ReasonInvalidField)
		} else if v, _ := strconv.ParseUint(f.ID, 16, 32); v >= 1<<29 {
			bad("can["+strconv.Itoa(i)+"].id", "must be a 29-bit identifier in hex", ReasonInvalidField)
		}
		if !isHex(f.Data, 16, 16) {
			bad("can["+strconv.Itoa(i)+"].data", "must be 8 bytes in hex", ReasonInvalidField)
		}
	}
	if len(errs) > 0 {
		return Position{}, Invalid(errs...)
	}
	return p, nil
}

// CheckFixTime judges a fix time against the receiving clock now (CONTRACT §2): it returns
// ReasonFutureFix when ts is more than MaxFutureSkew ahead, ReasonStaleFix when it is older
// than MaxFixAge, each with a detail for people, and "" when the time is acceptable. Every
// entrance (HTTP push, NATS, the JT/T 808 gateway) judges fix time with it.
func CheckFixTime(ts, now time.Time) (reason, detail string) {
	switch {
	case ts.After(now.Add(MaxFutureSkew)):
		return ReasonFutureFix, "more than 2 minutes in the future"
	case ts.Before(now.Add(-MaxFixAge)):
		return ReasonStaleFix, "older than 7 days"
	}
	return "", ""
}

// Reason returns the dead-letter reason code of a decoding error (the first field's).
func Reason(err error) string {
	if e, ok := err.(*Error); ok && len(e.Fields) > 0 && e.Fields[0].Reason != "" {
		return e.Fields[0].Reason
	}
	return ReasonInvalidField
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func isHex(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
