// Package j1939 decodes SAE J1939 CAN frames: the 29-bit identifier (priority, PGN, source and
// destination address) and the handful of parameters (SPNs) a fleet tracker needs — wheel-based
// speed, engine speed, fuel level, coolant temperature and total vehicle distance. Values in the
// J1939-71 "error" or "not available" ranges are reported as absent, never as a scaled 0xFF.
// The package is pure: no I/O, no clock.
package j1939

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Parameter groups decoded by this package.
const (
	PGNEEC1  = 61444 // 0xF004 electronic engine controller 1: SPN 190 engine speed
	PGNCCVS1 = 65265 // 0xFEF1 cruise control/vehicle speed 1: SPN 84 wheel-based vehicle speed
	PGNDD1   = 65276 // 0xFEFC dash display 1: SPN 96 fuel level 1
	PGNET1   = 65262 // 0xFEEE engine temperature 1: SPN 110 engine coolant temperature
	PGNVD    = 65248 // 0xFEE0 vehicle distance: SPN 245 total vehicle distance (0.125 km)
	PGNVDHR  = 65217 // 0xFEC1 high-resolution vehicle distance: SPN 917 (5 m)
)

// GlobalAddress is the destination of broadcast (PDU2) messages.
const GlobalAddress = 0xFF

// MaxID is the largest 29-bit identifier.
const MaxID = 1<<29 - 1

// Errors returned by the decoders.
var (
	ErrIDRange = errors.New("j1939: identifier exceeds 29 bits")
	ErrHex     = errors.New("j1939: malformed hex")
	ErrData    = errors.New("j1939: data longer than 8 bytes")
)

// ID is a decoded 29-bit J1939 identifier.
type ID struct {
	Priority    uint8  // 0 (highest) … 7
	EDP         uint8  // extended data page (bit 25)
	DP          uint8  // data page (bit 24)
	PF          uint8  // PDU format
	PS          uint8  // PDU specific: destination (PDU1) or group extension (PDU2)
	PGN         uint32 // parameter group number
	Source      uint8  // source address
	Destination uint8  // destination address; GlobalAddress for PDU2 (broadcast)
}

// PDU1 reports whether the identifier is destination-specific (PF < 240).
func (id ID) PDU1() bool { return id.PF < 0xF0 }

// ParseID splits a 29-bit identifier. Bits above 28 are an error (ErrIDRange).
// For PDU1 (PF < 240) PS is the destination and not part of the PGN; for PDU2 PS is the
// group extension and part of the PGN, and the destination is GlobalAddress.
func ParseID(raw uint32) (ID, error) {
	if raw > MaxID {
		return ID{}, ErrIDRange
	}
	id := ID{
		Priority: uint8(raw >> 26 & 0x7),
		EDP:      uint8(raw >> 25 & 1),
		DP:       uint8(raw >> 24 & 1),
		PF:       uint8(raw >> 16),
		PS:       uint8(raw >> 8),
		Source:   uint8(raw),
	}
	id.PGN = uint32(id.EDP)<<17 | uint32(id.DP)<<16 | uint32(id.PF)<<8
	if id.PDU1() {
		id.Destination = id.PS
	} else {
		id.PGN |= uint32(id.PS)
		id.Destination = GlobalAddress
	}
	return id, nil
}

// Values holds the parameters decoded from one or more frames; nil means absent.
type Values struct {
	SpeedKmh   *float64 // SPN 84, km/h
	EngineRPM  *float64 // SPN 190, rpm
	FuelPct    *float64 // SPN 96, %
	CoolantC   *float64 // SPN 110, °C
	OdometerKm *float64 // SPN 245 or SPN 917, km
	// OdometerHighRes is true when OdometerKm came from SPN 917 (PGN 65217).
	OdometerHighRes bool
}

// Merge copies every present value of o over v (later frames win); a high-resolution odometer
// is not replaced by a low-resolution one.
func (v *Values) Merge(o Values) {
	if o.SpeedKmh != nil {
		v.SpeedKmh = o.SpeedKmh
	}
	if o.EngineRPM != nil {
		v.EngineRPM = o.EngineRPM
	}
	if o.FuelPct != nil {
		v.FuelPct = o.FuelPct
	}
	if o.CoolantC != nil {
		v.CoolantC = o.CoolantC
	}
	if o.OdometerKm != nil && (o.OdometerHighRes || !v.OdometerHighRes) {
		v.OdometerKm = o.OdometerKm
		v.OdometerHighRes = o.OdometerHighRes
	}
}

// Decode decodes one frame: its identifier and the supported SPNs of its PGN. data may be
// shorter than 8 bytes (missing bytes read as "not available"); longer is ErrData.
// A PGN this package does not know yields empty Values and no error.
func Decode(rawID uint32, data []byte) (ID, Values, error) {
	id, err := ParseID(rawID)
	if err != nil {
		return ID{}, Values{}, err
	}
	if len(data) > 8 {
		return id, Values{}, ErrData
	}
	var d [8]byte
	for i := range d {
		d[i] = 0xFF
	}
	copy(d[:], data)
	var v Values
	switch id.PGN {
	case PGNCCVS1:
		if raw, ok := u16(d[1:3]); ok {
			v.SpeedKmh = f(float64(raw) / 256)
		}
	case PGNEEC1:
		if raw, ok := u16(d[3:5]); ok {
			v.EngineRPM = f(float64(raw) * 0.125)
		}
	case PGNDD1:
		if raw, ok := u8(d[1]); ok {
			v.FuelPct = f(float64(raw) * 0.4)
		}
	case PGNET1:
		if raw, ok := u8(d[0]); ok {
			v.CoolantC = f(float64(raw) - 40)
		}
	case PGNVD:
		if raw, ok := u32(d[4:8]); ok {
			v.OdometerKm = f(float64(raw) * 0.125)
		}
	case PGNVDHR:
		if raw, ok := u32(d[0:4]); ok {
			v.OdometerKm = f(float64(raw) * 0.005)
			v.OdometerHighRes = true
		}
	}
	return id, v, nil
}

// DecodeFrame decodes a frame in its JSON form (CONTRACT §2: id as hex, data as hex).
func DecodeFrame(fr tracking.CANFrame) (ID, Values, error) {
	if len(fr.ID) == 0 || len(fr.ID) > 8 {
		return ID{}, Values{}, fmt.Errorf("%w: id %q", ErrHex, fr.ID)
	}
	raw, err := strconv.ParseUint(fr.ID, 16, 32)
	if err != nil {
		return ID{}, Values{}, fmt.Errorf("%w: id %q", ErrHex, fr.ID)
	}
	if len(fr.Data) > 16 || len(fr.Data)%2 != 0 {
		return ID{}, Values{}, fmt.Errorf("%w: data %q", ErrHex, fr.Data)
	}
	var buf [8]byte
	n, err := hex.Decode(buf[:], []byte(fr.Data))
	if err != nil {
		return ID{}, Values{}, fmt.Errorf("%w: data %q", ErrHex, fr.Data)
	}
	return Decode(uint32(raw), buf[:n])
}

// Apply decodes p.CAN and fills SpeedKmh, EngineRPM, FuelPct, CoolantC and OdometerKm where
// they are absent; values already present are kept. When several frames carry the same
// parameter the later frame wins (a high-resolution odometer beats a low-resolution one).
// Frames that cannot be decoded are skipped; the error (code tracking.EINVALID) names the
// first of them, and the values of the good frames are applied regardless.
func Apply(p *tracking.Position) error {
	if p == nil || len(p.CAN) == 0 {
		return nil
	}
	var all Values
	var firstErr error
	for i, fr := range p.CAN {
		_, v, err := DecodeFrame(fr)
		if err != nil {
			if firstErr == nil {
				firstErr = tracking.Invalid(tracking.FieldError{
					Field:   "can[" + strconv.Itoa(i) + "]",
					Message: err.Error(),
					Reason:  tracking.ReasonInvalidField,
				})
			}
			continue
		}
		all.Merge(v)
	}
	fill(&p.SpeedKmh, all.SpeedKmh)
	fill(&p.EngineRPM, all.EngineRPM)
	fill(&p.FuelPct, all.FuelPct)
	fill(&p.CoolantC, all.CoolantC)
	fill(&p.OdometerKm, all.OdometerKm)
	return firstErr
}

func fill(dst **float64, v *float64) {
	if *dst == nil && v != nil {
		*dst = v
	}
}

func f(x float64) *float64 { return &x }

// u8 returns a one-byte parameter when it is in the valid range 0x00–0xFA
// (0xFB–0xFD reserved, 0xFE error, 0xFF not available).
func u8(b byte) (uint8, bool) { return b, b <= 0xFA }

// u16 returns a little-endian two-byte parameter when it is valid (≤ 0xFAFF).
func u16(b []byte) (uint16, bool) {
	v := binary.LittleEndian.Uint16(b)
	return v, v <= 0xFAFF
}

// u32 returns a little-endian four-byte parameter when it is valid (≤ 0xFAFFFFFF).
func u32(b []byte) (uint32, bool) {
	v := binary.LittleEndian.Uint32(b)
	return v, v <= 0xFAFFFFFF
}
