package jt808

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Register is a terminal registration (0x0100).
type Register struct {
	// Layout is 2011, 2013 or 2019.
	Layout       int
	Province     uint16
	City         uint16
	Manufacturer string
	Model        string
	TerminalID   string
	PlateColor   byte
	// Plate is the plate number (the VIN when PlateColor is 0), decoded from GBK.
	Plate string
}

// ParseRegister decodes a 0x0100 body. The 2019 layout is used for a 2019 header when the
// body can hold it (at least 76 bytes); otherwise a body of at least 37 bytes is the 2013
// layout and a shorter one (at least 25) the 2011 layout.
func ParseRegister(body []byte, v Version) (Register, error) {
	var r Register
	var makerLen, modelLen, idLen int
	switch {
	case v == V2019 && len(body) >= 76:
		r.Layout, makerLen, modelLen, idLen = 2019, 11, 30, 30
	case len(body) >= 37:
		r.Layout, makerLen, modelLen, idLen = 2013, 5, 20, 7
	default:
		r.Layout, makerLen, modelLen, idLen = 2011, 5, 8, 7
	}
	fixed := 4 + makerLen + modelLen + idLen + 1
	if len(body) < fixed {
		return Register{}, fmt.Errorf("%w: 0x0100 body of %d bytes, %d-byte layout needs %d", ErrBody, len(body), r.Layout, fixed)
	}
	r.Province = binary.BigEndian.Uint16(body[0:2])
	r.City = binary.BigEndian.Uint16(body[2:4])
	off := 4
	r.Manufacturer = text(body[off : off+makerLen])
	off += makerLen
	r.Model = text(body[off : off+modelLen])
	off += modelLen
	r.TerminalID = text(body[off : off+idLen])
	off += idLen
	r.PlateColor = body[off]
	r.Plate = text(body[off+1:])
	return r, nil
}

// Auth is a terminal authentication (0x0102).
type Auth struct {
	Code     string
	IMEI     string // 2019 layout only
	Software string // 2019 layout only
}

// ParseAuth decodes a 0x0102 body. The 2019 layout (length byte, code, IMEI[15],
// version[20]) is used when the length byte fits: with a 2019 header whenever 1+n ≤ len,
// with a 2013 header only when the body is exactly 1+n+35 bytes. Anything else is the
// 2011/2013 layout (the whole body is the code) — real 2019-header devices send that too.
func ParseAuth(body []byte, v Version) (Auth, error) {
	if len(body) == 0 {
		return Auth{}, fmt.Errorf("%w: empty 0x0102 body", ErrBody)
	}
	n := int(body[0])
	if (v == V2019 && n > 0 && 1+n <= len(body) && (1+n == len(body) || len(body) >= 1+n+15)) ||
		(v != V2019 && n > 0 && len(body) == 1+n+35) {
		a := Auth{Code: string(bytes.TrimRight(body[1:1+n], "\x00"))}
		rest := body[1+n:]
		if len(rest) >= 15 {
			a.IMEI = text(rest[:15])
			a.Software = text(rest[15:])
		}
		return a, nil
	}
	return Auth{Code: string(bytes.TrimRight(body, "\x00"))}, nil
}

// text decodes a fixed or trailing string field: GBK (ASCII passes through), trailing and
// leading 0x00 padding and trailing spaces removed.
func text(b []byte) string {
	b = bytes.Trim(b, "\x00")
	b = bytes.TrimRight(b, " ")
	if len(b) == 0 {
		return ""
	}
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	if s, err := simplifiedchinese.GBK.NewDecoder().Bytes(b); err == nil && utf8.Valid(s) {
		return string(s)
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

// Extra item ids of the location report decoded into fields.
const (
	ExtraMileage    = 0x01
	ExtraFuel       = 0x02
	ExtraTachoSpeed = 0x03
	ExtraSignals    = 0x25
	ExtraIOStatus   = 0x2A
	ExtraAnalog     = 0x2B
	ExtraRSSI       = 0x30
	ExtraSatellites = 0x31
)

// Extra is one additional item of a location report kept raw (unknown ids).
type Extra struct {
	ID    byte
	Value []byte
}

// Location is a decoded location report body (0x0200, or one item of 0x0704).
type Location struct {
	Alarm  uint32
	Status uint32
	// LatRaw and LonRaw are the unsigned 1e-6 degree values; Lat and Lon are signed by status
	// bits 2 (south) and 3 (west).
	LatRaw, LonRaw uint32
	Lat, Lon       float64
	// AltitudeM is read as a signed 16-bit value (the standard says WORD; below-sea-level
	// sites exist, 32 km above sea level do not).
	AltitudeM int16
	// SpeedKmh is the GNSS speed (0.1 km/h units on the wire).
	SpeedKmh float64
	// Heading is the direction, 0–359 degrees from north.
	Heading uint16
	// Time is the device time read from BCD in the configured zone; zero when RawTime is not
	// a valid BCD date (devices send 000000000000 before their first fix).
	Time    time.Time
	RawTime [6]byte
	// Decoded extra items (nil when absent or malformed).
	MileageKm     *float64 // 0x01, 1/10 km
	FuelL         *float64 // 0x02, 1/10 L
	TachoSpeedKmh *float64 // 0x03, 1/10 km/h
	Signals       *uint32  // 0x25 extended vehicle signals
	IOStatus      *uint16  // 0x2A
	Analog        *uint32  // 0x2B
	RSSI          *uint8   // 0x30
	Satellites    *uint8   // 0x31
	// Extras are the items with other ids, raw.
	Extras []Extra
	// BadItems counts known items with a wrong length (skipped); Truncated is set when the
	// item list ended in a broken item (the rest of the body is ignored).
	BadItems  int
	Truncated bool
}

// Status bits.
const (
	StatusACC      = 1 << 0
	StatusFixValid = 1 << 1
	StatusSouth    = 1 << 2
	StatusWest     = 1 << 3
)

// FixValid reports status bit 1 (the terminal has a position fix).
func (l *Location) FixValid() bool { return l.Status&StatusFixValid != 0 }

// ACC reports status bit 0 (ignition on).
func (l *Location) ACC() bool { return l.Status&StatusACC != 0 }

// LocationSize is the size of the basic block of a location report.
const LocationSize = 28

// GMT8 is the zone of the BCD time in the standard (China Standard Time).
var GMT8 = time.FixedZone("GMT+8", 8*3600)

// ParseLocation decodes a location report body. zone is the zone of the device's BCD time
// (nil means GMT+8). Only a body shorter than the 28-byte basic block is an error: a time
// that is not a valid BCD date leaves Time zero (Position then refuses it), and broken or
// unknown extra items are skipped.
func ParseLocation(body []byte, zone *time.Location) (Location, error) {
	if len(body) < LocationSize {
		return Location{}, fmt.Errorf("%w: location of %d bytes, need %d", ErrBody, len(body), LocationSize)
	}
	if zone == nil {
		zone = GMT8
	}
	l := Location{
		Alarm:     binary.BigEndian.Uint32(body[0:4]),
		Status:    binary.BigEndian.Uint32(body[4:8]),
		LatRaw:    binary.BigEndian.Uint32(body[8:12]),
		LonRaw:    binary.BigEndian.Uint32(body[12:16]),
		AltitudeM: int16(binary.BigEndian.Uint16(body[16:18])),
		SpeedKmh:  float64(binary.BigEndian.Uint16(body[18:20])) / 10,
		Heading:   binary.BigEndian.Uint16(body[20:22]),
	}
	l.Lat = float64(l.LatRaw) / 1e6
	l.Lon = float64(l.LonRaw) / 1e6
	if l.Status&StatusSouth != 0 {
		l.Lat = -l.Lat
	}
	if l.Status&StatusWest != 0 {
		l.Lon = -l.Lon
	}
	copy(l.RawTime[:], body[22:28])
	if t, err := bcdTime(body[22:28], zone); err == nil {
		l.Time = t
	}
	l.parseExtras(body[LocationSize:])
	return l, nil
}

func (l *Location) parseExtras(b []byte) {
	for len(b) > 0 {
		if len(b) < 2 {
			l.Truncated = true
			return
		}
		id, n := b[0], int(b[1])
		if 2+n > len(b) {
			l.Truncated = true
			return
		}
		v := b[2 : 2+n]
		b = b[2+n:]
		ok := true
		switch id {
		case ExtraMileage:
			if ok = n == 4; ok {
				l.MileageKm = fp(float64(binary.BigEndian.Uint32(v)) / 10)
			}
		case ExtraFuel:
			if ok = n == 2; ok {
				l.FuelL = fp(float64(binary.BigEndian.Uint16(v)) / 10)
			}
		case ExtraTachoSpeed:
			if ok = n == 2; ok {
				l.TachoSpeedKmh = fp(float64(binary.BigEndian.Uint16(v)) / 10)
			}
		case ExtraSignals:
			if ok = n == 4; ok {
				x := binary.BigEndian.Uint32(v)
				l.Signals = &x
			}
		case ExtraIOStatus:
			if ok = n == 2; ok {
				x := binary.BigEndian.Uint16(v)
				l.IOStatus = &x
			}
		case ExtraAnalog:
			if ok = n == 4; ok {
				x := binary.BigEndian.Uint32(v)
				l.Analog = &x
			}
		case ExtraRSSI:
			if ok = n == 1; ok {
				x := v[0]
				l.RSSI = &x
			}
		case ExtraSatellites:
			if ok = n == 1; ok {
				x := v[0]
				l.Satellites = &x
			}
		default:
			l.Extras = append(l.Extras, Extra{ID: id, Value: v})
		}
		if !ok {
			l.BadItems++
		}
	}
}

func fp(v float64) *float64 { return &v }

// bcdTime reads YYMMDDhhmmss (20YY) in zone, rejecting non-decimal nibbles and impossible dates.
func bcdTime(b []byte, zone *time.Location) (time.Time, error) {
	var d [6]int
	for i, c := range b[:6] {
		hi, lo := c>>4, c&0xf
		if hi > 9 || lo > 9 {
			return time.Time{}, fmt.Errorf("%w: time %x is not BCD", ErrBody, b[:6])
		}
		d[i] = int(hi)*10 + int(lo)
	}
	year, month, day, hour, min, sec := 2000+d[0], d[1], d[2], d[3], d[4], d[5]
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("%w: time %x out of range", ErrBody, b[:6])
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, zone)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("%w: time %x is not a date", ErrBody, b[:6])
	}
	return t, nil
}

// Batch is a batch location upload (0x0704).
type Batch struct {
	// Type is 0 for a normal batch, 1 for blind-area backfill.
	Type byte
	// Count is the item count the terminal declared.
	Count int
	// Items are the decodable locations, in order.
	Items []Location
	// Bad counts items that could not be decoded (skipped).
	Bad int
}

// Backfill reports whether the batch is blind-area backfill (type 1).
func (b *Batch) Backfill() bool { return b.Type == 1 }

// ParseBatch decodes a 0x0704 body. An item whose location cannot be decoded is counted in
// Bad and skipped; an item length running past the body ends the list (counted as bad).
// Only a body shorter than its 3-byte head is an error.
func ParseBatch(body []byte, zone *time.Location) (Batch, error) {
	if len(body) < 3 {
		return Batch{}, fmt.Errorf("%w: 0x0704 body of %d bytes", ErrBody, len(body))
	}
	b := Batch{Count: int(binary.BigEndian.Uint16(body[0:2])), Type: body[2]}
	rest := body[3:]
	for len(rest) > 0 {
		if len(rest) < 2 {
			b.Bad++
			break
		}
		n := int(binary.BigEndian.Uint16(rest[0:2]))
		if 2+n > len(rest) {
			b.Bad++
			break
		}
		l, err := ParseLocation(rest[2:2+n], zone)
		rest = rest[2+n:]
		if err != nil {
			b.Bad++
			continue
		}
		b.Items = append(b.Items, l)
	}
	return b, nil
}

// CANItem is one CAN frame of a 0x0705 upload.
type CANItem struct {
	// Channel is 0 for CAN1, 1 for CAN2 (bit 31).
	Channel byte
	// Extended is bit 30: an extended (29-bit, J1939) frame.
	Extended bool
	// Averaged is bit 29: the data is an average over the collection interval.
	Averaged bool
	// ID is the CAN identifier (bits 0–28).
	ID   uint32
	Data [8]byte
}

// CANData is a CAN bus data upload (0x0705).
type CANData struct {
	// Received is the receive time of the first item as an offset from midnight (device
	// local time; the message carries no date).
	Received time.Duration
	Items    []CANItem
}

// ParseCAN decodes a 0x0705 body: count WORD, receive time BCD[5] (hh mm ss msms), then
// 12-byte items. Items beyond the body are ignored (the declared count may lie); a receive
// time that is not BCD is kept as 0.
func ParseCAN(body []byte) (CANData, error) {
	if len(body) < 7 {
		return CANData{}, fmt.Errorf("%w: 0x0705 body of %d bytes", ErrBody, len(body))
	}
	count := int(binary.BigEndian.Uint16(body[0:2]))
	var c CANData
	if d, ok := bcdDigits(body[2:7]); ok {
		c.Received = time.Duration(d[0]*10+d[1])*time.Hour + time.Duration(d[2]*10+d[3])*time.Minute +
			time.Duration(d[4]*10+d[5])*time.Second + time.Duration(d[6]*1000+d[7]*100+d[8]*10+d[9])*time.Millisecond
	}
	items := body[7:]
	n := len(items) / 12
	if count < n {
		n = count
	}
	c.Items = make([]CANItem, 0, n)
	for i := 0; i < n; i++ {
		it := items[12*i : 12*i+12]
		raw := binary.BigEndian.Uint32(it[0:4])
		ci := CANItem{
			Channel:  byte(raw >> 31),
			Extended: raw&(1<<30) != 0,
			Averaged: raw&(1<<29) != 0,
			ID:       raw & (1<<29 - 1),
		}
		copy(ci.Data[:], it[4:12])
		c.Items = append(c.Items, ci)
	}
	return c, nil
}

func bcdDigits(b []byte) ([10]int, bool) {
	var d [10]int
	for i, c := range b {
		if i >= 5 || c>>4 > 9 || c&0xf > 9 {
			return d, false
		}
		d[2*i], d[2*i+1] = int(c>>4), int(c&0xf)
	}
	return d, true
}
