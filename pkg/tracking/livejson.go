package tracking

import (
	"github.com/corridor-dev/corridor/internal/jsonenc"
)

// AppendJSON appends the JSON of s, byte for byte what encoding/json makes of it, without
// reflection: the engine encodes a live state for every fix it publishes and every vehicle it
// checkpoints (see internal/jsonenc).
func (s *VehicleState) AppendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"vehicle_id":`...)
	b = jsonenc.String(b, s.VehicleID)
	b = append(b, `,"carrier_id":`...)
	b = jsonenc.String(b, s.CarrierID)
	b = append(b, `,"plate":`...)
	b = jsonenc.String(b, s.Plate)
	b = append(b, `,"ts":`...)
	if b, err = jsonenc.Time(b, s.TS); err != nil {
		return nil, err
	}
	b = append(b, `,"lat":`...)
	if b, err = jsonenc.Float(b, s.Lat); err != nil {
		return nil, err
	}
	b = append(b, `,"lon":`...)
	if b, err = jsonenc.Float(b, s.Lon); err != nil {
		return nil, err
	}
	b = append(b, `,"speed_kmh":`...)
	if b, err = jsonenc.FloatPtr(b, s.SpeedKmh); err != nil {
		return nil, err
	}
	b = append(b, `,"heading_deg":`...)
	if b, err = jsonenc.FloatPtr(b, s.HeadingDeg); err != nil {
		return nil, err
	}
	b = append(b, `,"status":`...)
	b = jsonenc.String(b, s.Status)
	b = append(b, `,"trip_id":`...)
	b = jsonenc.StringPtr(b, s.TripID)
	b = append(b, `,"corridor_id":`...)
	b = jsonenc.StringPtr(b, s.CorridorID)
	b = append(b, `,"distance_m":`...)
	if b, err = jsonenc.FloatPtr(b, s.DistanceM); err != nil {
		return nil, err
	}
	b = append(b, `,"progress_m":`...)
	if b, err = jsonenc.FloatPtr(b, s.ProgressM); err != nil {
		return nil, err
	}
	b = append(b, `,"remaining_m":`...)
	if b, err = jsonenc.FloatPtr(b, s.RemainingM); err != nil {
		return nil, err
	}
	b = append(b, `,"eta":`...)
	if s.ETA == nil {
		b = append(b, "null"...)
	} else if b, err = jsonenc.Time(b, *s.ETA); err != nil {
		return nil, err
	}
	b = append(b, `,"updated_at":`...)
	if b, err = jsonenc.Time(b, s.UpdatedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}
