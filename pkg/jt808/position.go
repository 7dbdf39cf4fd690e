package jt808

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Reasons a location is not a position.
var (
	ErrNoFix       = errors.New("jt808: no position fix (status bit 1 clear)")
	ErrCoordinates = errors.New("jt808: coordinates out of range or zero")
	ErrTime        = errors.New("jt808: device time is not a valid BCD date")
)

// Position converts a location report into a tracking.Position. VehicleID, CarrierID and CAN
// are left for the caller (the gateway). It fails with ErrNoFix when status bit 1 is clear
// with ErrCoordinates when lat/lon are out of range or both zero, and with ErrTime when the
// BCD time was not a date.
//
// Mapping: ts = device time; speed_kmh = GNSS speed of the basic block (item 0x03, the
// tachograph speed, stays on Location); heading_deg when < 360; altitude_m; satellites (0x31);
// odometer_km (0x01); fuel_l (0x02); ignition = status bit 0; device_alarms = the names of
// the alarm bits for version v. Optional values outside the ranges of CONTRACT §2 are left
// out rather than make the whole fix invalid.
func (l *Location) Position(v Version) (tracking.Position, error) {
	if !l.FixValid() {
		return tracking.Position{}, ErrNoFix
	}
	if l.LatRaw > 90e6 || l.LonRaw > 180e6 || (l.LatRaw == 0 && l.LonRaw == 0) {
		return tracking.Position{}, ErrCoordinates
	}
	if l.Time.IsZero() {
		return tracking.Position{}, ErrTime
	}
	p := tracking.Position{
		TS:           l.Time,
		Lat:          l.Lat,
		Lon:          l.Lon,
		DeviceAlarms: AlarmNames(l.Alarm, v),
	}
	if l.SpeedKmh <= 300 {
		p.SpeedKmh = fp(l.SpeedKmh)
	}
	if l.Heading < 360 {
		p.HeadingDeg = fp(float64(l.Heading))
	}
	if l.AltitudeM >= -1000 && l.AltitudeM <= 10000 {
		p.AltitudeM = fp(float64(l.AltitudeM))
	}
	if l.Satellites != nil {
		p.Satellites = fp(float64(*l.Satellites))
	}
	if l.MileageKm != nil {
		p.OdometerKm = fp(*l.MileageKm)
	}
	if l.FuelL != nil {
		p.FuelL = fp(*l.FuelL)
	}
	ign := l.ACC()
	p.Ignition = &ign
	return p, nil
}

// Frame converts a CAN item into the JSON form of a position's can field: the 29-bit
// identifier as 8 upper-case hex digits and the 8 data bytes as 16.
func (c CANItem) Frame() tracking.CANFrame {
	id := strconv.FormatUint(uint64(c.ID), 16)
	return tracking.CANFrame{
		ID:   strings.ToUpper(strings.Repeat("0", 8-len(id)) + id),
		Data: strings.ToUpper(hex.EncodeToString(c.Data[:])),
	}
}

// J1939Frames returns the extended (29-bit) frames of the upload in the form of a position's
// can field; standard 11-bit frames are not J1939 and are left out.
func (c *CANData) J1939Frames() []tracking.CANFrame {
	out := make([]tracking.CANFrame, 0, len(c.Items))
	for _, it := range c.Items {
		if it.Extended {
			out = append(out, it.Frame())
		}
	}
	return out
}
