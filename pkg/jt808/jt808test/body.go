package jt808test

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
)

// Location is a location report to encode: the body of a 0x0200, or one item of a 0x0704.
// Fields left zero are sent as zeros, except the time: set Time or RawTime.
type Location struct {
	// Alarm and Status are the alarm and status bit words (jt808.StatusFixValid, …).
	Alarm, Status uint32
	// Lat and Lon are in degrees, sent rounded to 1e-6°. They are sent unsigned: south and
	// west are status bits (jt808.StatusSouth, jt808.StatusWest), so pass magnitudes.
	Lat, Lon float64
	// AltitudeM is the altitude in metres.
	AltitudeM uint16
	// SpeedKmh is the GNSS speed, sent rounded to 0.1 km/h.
	SpeedKmh float64
	// Heading is the direction in degrees from north.
	Heading uint16
	// Time is the device time, sent as BCD in GMT+8 (see BCDTime).
	Time time.Time
	// RawTime, when not nil, is sent as the 6 time bytes instead of Time (for example all
	// zeros, as devices send before their first fix).
	RawTime []byte
	// Extras are the additional items appended after the basic block, raw: id, length,
	// value, … (for example {jt808.ExtraSatellites, 1, 11}).
	Extras []byte
}

// Body returns the encoded location report body.
func (l Location) Body() []byte {
	b := make([]byte, 0, jt808.LocationSize+len(l.Extras))
	b = binary.BigEndian.AppendUint32(b, l.Alarm)
	b = binary.BigEndian.AppendUint32(b, l.Status)
	b = binary.BigEndian.AppendUint32(b, uint32(math.Round(l.Lat*1e6)))
	b = binary.BigEndian.AppendUint32(b, uint32(math.Round(l.Lon*1e6)))
	b = binary.BigEndian.AppendUint16(b, l.AltitudeM)
	b = binary.BigEndian.AppendUint16(b, uint16(math.Round(l.SpeedKmh*10)))
	b = binary.BigEndian.AppendUint16(b, l.Heading)
	if l.RawTime != nil {
		b = append(b, l.RawTime...)
	} else {
		b = append(b, BCDTime(l.Time)...)
	}
	return append(b, l.Extras...)
}

// BCDTime returns the 6-byte BCD time YYMMDDhhmmss of ts in GMT+8 (jt808.GMT8), the zone of
// the device time in the standard.
func BCDTime(ts time.Time) []byte {
	l := ts.In(jt808.GMT8)
	return []byte{bcd(l.Year() % 100), bcd(int(l.Month())), bcd(l.Day()), bcd(l.Hour()), bcd(l.Minute()), bcd(l.Second())}
}

// bcd returns the two low decimal digits of v as one BCD byte.
func bcd(v int) byte { return byte(v/10%10)<<4 | byte(v%10) }

// Batch returns a 0x0704 batch location upload body of type typ (0 normal, 1 blind-area
// backfill) holding the given location report bodies.
func Batch(typ byte, items ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(items)))
	b = append(b, typ)
	for _, it := range items {
		b = binary.BigEndian.AppendUint16(b, uint16(len(it)))
		b = append(b, it...)
	}
	return b
}

// CAN returns a 0x0705 CAN bus data body: the item count, the receive time (an offset from
// midnight, sent as BCD hh mm ss and milliseconds) and the items, whose identifier word
// carries Channel in bit 31, Extended in bit 30, Averaged in bit 29 and ID in bits 0–28.
func CAN(received time.Duration, items ...jt808.CANItem) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(items)))
	ms := int(received / time.Millisecond)
	b = append(b, bcd(ms/3600000), bcd(ms/60000%60), bcd(ms/1000%60), bcd(ms%1000/100), bcd(ms%100))
	for _, it := range items {
		id := it.ID&(1<<29-1) | uint32(it.Channel&1)<<31
		if it.Extended {
			id |= 1 << 30
		}
		if it.Averaged {
			id |= 1 << 29
		}
		b = binary.BigEndian.AppendUint32(b, id)
		b = append(b, it.Data[:]...)
	}
	return b
}

// Wrap returns the frame of payload p — header, body and check code, taken as they are, so
// that p may be deliberately wrong — escaped and between two 0x7e flags.
func Wrap(p []byte) []byte {
	out := append([]byte{jt808.Flag}, jt808.AppendEscaped(nil, p)...)
	return append(out, jt808.Flag)
}

// Rewrite unescapes a whole frame (flags included, as made by jt808.Encode), lets edit change
// its payload (header, body and check code; the check code is not recomputed) and returns
// the payload edit returns, wrapped again. It is for building corrupt frames.
func Rewrite(t testing.TB, frame []byte, edit func(p []byte) []byte) []byte {
	t.Helper()
	if len(frame) < 2 {
		t.Fatalf("rewrite: %x is not a frame", frame)
	}
	p, err := jt808.Unescape(nil, frame[1:len(frame)-1])
	if err != nil {
		t.Fatal(err)
	}
	return Wrap(edit(p))
}
