package jt809

import (
	"fmt"
	"math"
	"time"
)

// Plate colours (JT/T 415-2006 / JT/T 697.7-2014).
const (
	ColorBlue   = 1
	ColorYellow = 2
	ColorBlack  = 3
	ColorWhite  = 4
	ColorOther  = 9
)

// VehicleMsg is the wrapper of the 0x1200, 0x1500 and (2011) 0x1400/0x9400 families:
// VEHICLE_NO 21 | VEHICLE_COLOR | DATA_TYPE | DATA_LENGTH | DATA. Without a plate (NoPlate)
// it is the 0x1300/0x9300 wrapper and the 2019 0x1400/0x9400 one.
type VehicleMsg struct {
	NoPlate  bool
	Plate    string
	Color    uint8
	DataType uint16
	Data     []byte
}

// Marshal encodes the wrapper.
func (m VehicleMsg) Marshal() []byte {
	var w w
	if !m.NoPlate {
		w.octet(m.Plate, 21)
		w.u8(m.Color)
	}
	w.u16(m.DataType)
	w.u32(uint32(len(m.Data)))
	w.raw(m.Data)
	return w.b
}

// PlateIn reports whether message msgID carries the plate in its wrapper in version v.
func PlateIn(v Version, msgID uint16) bool {
	switch msgID {
	case MsgUpPlatform, MsgDownPlatform:
		return false
	case MsgUpWarn, MsgDownWarn:
		return v == V2011
	}
	return true
}

// ParseVehicleMsg decodes a wrapper; plate says whether it carries VEHICLE_NO and VEHICLE_COLOR.
func ParseVehicleMsg(b []byte, plate bool) (VehicleMsg, error) {
	r := r{b: b}
	m := VehicleMsg{NoPlate: !plate}
	if plate {
		m.Plate = r.octet(21, "VEHICLE_NO")
		m.Color = r.u8("VEHICLE_COLOR")
	}
	m.DataType = r.u16("DATA_TYPE")
	n := r.u32("DATA_LENGTH")
	if r.err == nil && int64(n) != int64(len(r.b)) {
		return m, fmt.Errorf("%w: DATA_LENGTH %d but %d bytes follow", ErrBody, n, len(r.b))
	}
	m.Data = r.need(int(n), "DATA")
	return m, r.done("wrapper")
}

// GNSS is one position (0x1202 data, one item of 0x1203).
type GNSS struct {
	Encrypted bool
	Time      time.Time // fix time
	Lon, Lat  float64   // degrees
	SpeedKmh  float64   // GNSS speed (VEC1)
	Speed2Kmh float64   // tachograph speed (VEC2, 2011)
	MileageKm uint32    // VEC3 (2011)
	Direction uint16    // degrees
	AltitudeM uint16
	State     uint32 // JT/T 808 status bits
	Alarm     uint32 // JT/T 808 alarm bits
	// 2019: the alarm status forwarded by the enterprise, city and province platforms.
	PlatformIDs    [3]string
	PlatformAlarms [3]uint32
}

func deg(v float64) uint32 { return uint32(math.Round(math.Abs(v) * 1e6)) }

// marshalGNSS appends one position in version v's layout.
func marshalGNSS(out *w, v Version, g GNSS) {
	w := out
	if g.Encrypted {
		w.u8(1)
	} else {
		w.u8(0)
	}
	t := g.Time.In(beijing)
	if v == V2011 {
		w.u8(uint8(t.Day()))
		w.u8(uint8(t.Month()))
		w.u16(uint16(t.Year()))
		w.u8(uint8(t.Hour()))
		w.u8(uint8(t.Minute()))
		w.u8(uint8(t.Second()))
		w.u32(deg(g.Lon))
		w.u32(deg(g.Lat))
		w.u16(uint16(math.Round(g.SpeedKmh)))
		w.u16(uint16(math.Round(g.Speed2Kmh)))
		w.u32(g.MileageKm)
		w.u16(g.Direction)
		w.u16(g.AltitudeM)
		w.u32(g.State)
		w.u32(g.Alarm)
		return
	}
	// 2019: GNSS_DATA is a JT/T 808-2019 0x0200 basic body (28 bytes, no extra items).
	d := newW()
	d.u32(g.Alarm)
	state := g.State
	if g.Lat < 0 {
		state |= 1 << 2
	}
	if g.Lon < 0 {
		state |= 1 << 3
	}
	d.u32(state)
	d.u32(deg(g.Lat))
	d.u32(deg(g.Lon))
	d.u16(g.AltitudeM)
	d.u16(uint16(math.Round(g.SpeedKmh * 10)))
	d.u16(g.Direction)
	d.raw(bcdTime(t))
	w.u32(uint32(len(d.b)))
	w.raw(d.b)
	for i := range 3 {
		w.octet(g.PlatformIDs[i], 11)
		w.u32(g.PlatformAlarms[i])
	}
}

func bcdTime(t time.Time) []byte {
	out := make([]byte, 6)
	for i, n := range []int{t.Year() % 100, int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()} {
		out[i] = byte(n/10<<4 | n%10)
	}
	return out
}

func parseBCDTime(p []byte) (time.Time, bool) {
	var n [6]int
	for i := range 6 {
		hi, lo := int(p[i]>>4), int(p[i]&0x0F)
		if hi > 9 || lo > 9 {
			return time.Time{}, false
		}
		n[i] = hi*10 + lo
	}
	if n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 || n[3] > 23 || n[4] > 59 || n[5] > 59 {
		return time.Time{}, false
	}
	return time.Date(2000+n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, beijing).UTC(), true
}

func parseGNSS(rd *r, v Version) GNSS {
	r := rd
	var g GNSS
	g.Encrypted = r.u8("ENCRYPT") == 1
	if v == V2011 {
		day, month, year := r.u8("DATE"), r.u8("DATE"), r.u16("DATE")
		hh, mm, ss := r.u8("TIME"), r.u8("TIME"), r.u8("TIME")
		if r.err == nil {
			g.Time = time.Date(int(year), time.Month(month), int(day), int(hh), int(mm), int(ss), 0, beijing).UTC()
		}
		g.Lon = float64(r.u32("LON")) / 1e6
		g.Lat = float64(r.u32("LAT")) / 1e6
		g.SpeedKmh = float64(r.u16("VEC1"))
		g.Speed2Kmh = float64(r.u16("VEC2"))
		g.MileageKm = r.u32("VEC3")
		g.Direction = r.u16("DIRECTION")
		g.AltitudeM = r.u16("ALTITUDE")
		g.State = r.u32("STATE")
		g.Alarm = r.u32("ALARM")
		return g
	}
	n := r.u32("GNSS_DATA_LENGTH")
	if r.err == nil && (n < 28 || n > 1024) {
		r.err = fmt.Errorf("%w: GNSS_DATA_LENGTH %d", ErrBody, n)
		return g
	}
	d := newR(r.need(int(n), "GNSS_DATA"))
	if r.err != nil {
		return g
	}
	g.Alarm = d.u32("alarm")
	g.State = d.u32("status")
	g.Lat = float64(d.u32("lat")) / 1e6
	g.Lon = float64(d.u32("lon")) / 1e6
	if g.State&(1<<2) != 0 {
		g.Lat = -g.Lat
	}
	if g.State&(1<<3) != 0 {
		g.Lon = -g.Lon
	}
	g.AltitudeM = d.u16("altitude")
	g.SpeedKmh = float64(d.u16("speed")) / 10
	g.Direction = d.u16("direction")
	if t, ok := parseBCDTime(d.need(6, "time")); ok {
		g.Time = t
	} else if d.err == nil {
		r.err = fmt.Errorf("%w: bad BCD time in GNSS_DATA", ErrBody)
	}
	for i := range 3 {
		g.PlatformIDs[i] = r.octet(11, "PLATFORM_ID")
		g.PlatformAlarms[i] = r.u32("ALARM")
	}
	return g
}

// RealLocation is 0x1202 data.
type RealLocation struct{ GNSS GNSS }

// Marshal encodes the data for version v.
func (m RealLocation) Marshal(v Version) []byte {
	var w w
	marshalGNSS(&w, v, m.GNSS)
	return w.b
}

// ParseRealLocation decodes 0x1202 data.
func ParseRealLocation(v Version, b []byte) (RealLocation, error) {
	r := r{b: b}
	g := parseGNSS(&r, v)
	return RealLocation{GNSS: g}, r.done("0x1202")
}

// MaxHistory is the most positions one 0x1203 carries (GNSS_CNT 1..5).
const MaxHistory = 5

// HistoryLocation is 0x1203 data: 1 to 5 positions, oldest first.
type HistoryLocation struct{ GNSS []GNSS }

// Marshal encodes the data for version v.
func (m HistoryLocation) Marshal(v Version) ([]byte, error) {
	if len(m.GNSS) < 1 || len(m.GNSS) > MaxHistory {
		return nil, fmt.Errorf("jt809: 0x1203 carries 1 to %d positions, not %d", MaxHistory, len(m.GNSS))
	}
	var w w
	w.u8(uint8(len(m.GNSS)))
	for _, g := range m.GNSS {
		marshalGNSS(&w, v, g)
	}
	return w.b, nil
}

// ParseHistoryLocation decodes 0x1203 data.
func ParseHistoryLocation(v Version, b []byte) (HistoryLocation, error) {
	r := r{b: b}
	n := r.u8("GNSS_CNT")
	if r.err == nil && (n < 1 || n > MaxHistory) {
		return HistoryLocation{}, fmt.Errorf("%w: GNSS_CNT %d", ErrBody, n)
	}
	m := HistoryLocation{GNSS: make([]GNSS, 0, n)}
	for range int(n) {
		m.GNSS = append(m.GNSS, parseGNSS(&r, v))
	}
	return m, r.done("0x1203")
}
