// Package jt809 is a pure codec for JT/T 809 (2011 and 2019), the platform-to-platform protocol
// by which a carrier's monitoring platform reports to the government supervision platform:
// 0x5B/0x5D framing with 0x5A/0x5E escapes, the 22-byte (2011) and 30-byte (2019) headers,
// CRC-16/CCITT-FALSE, the M1/IA1/IC1 keystream cipher and the bodies of link management,
// real-time and back-filled positions, alarm reports, alarm supervision and duty checks.
// It does no I/O and reads no clock; every decoder checks lengths and never panics on input.
//
// The byte-level facts and the implementations they were checked against are in the project's
// protocol notes (JT809.md); the tests replay frames published by those implementations.
package jt809

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Version selects the header and body layouts. The header's VERSION_FLAG does not tell them
// apart in real traffic, so both ends must be configured alike.
type Version int

// Supported versions.
const (
	V2011 Version = 2011
	V2019 Version = 2019
)

// Valid reports whether v is a supported version.
func (v Version) Valid() bool { return v == V2011 || v == V2019 }

// Flag and escape bytes (STD11 §4.4.3–4.4.5).
const (
	HeadFlag = 0x5B
	TailFlag = 0x5D
)

// Header lengths.
const (
	HeaderLen2011 = 22
	HeaderLen2019 = 30
)

// MaxFrame bounds one escaped frame between the flags (the largest body Corridor exchanges is
// a few hundred bytes; real upper platforms stay far below this).
const MaxFrame = 64 << 10

// Errors of Decode.
var (
	ErrShort    = errors.New("jt809: frame too short")
	ErrFlags    = errors.New("jt809: frame does not start with 0x5B and end with 0x5D")
	ErrEscape   = errors.New("jt809: bad escape sequence")
	ErrLength   = errors.New("jt809: MSG_LENGTH does not match the frame")
	ErrCRC      = errors.New("jt809: CRC mismatch")
	ErrTooLarge = errors.New("jt809: frame too large")
	ErrNoCipher = errors.New("jt809: encrypted frame but no cipher keys configured")
)

// Header is the message header. Length is filled by Decode; Encode computes it.
type Header struct {
	Length       uint32
	SN           uint32
	MsgID        uint16
	GNSSCenterID uint32
	VersionFlag  [3]byte // e.g. 1.2.15 = {1, 2, 15}
	Encrypted    bool
	EncryptKey   uint32
	Time         time.Time // 2019 only: TIME, Unix seconds
}

// Cipher is the per-platform M1/IA1/IC1 keystream (STD11 §4.4.7).
type Cipher struct {
	M1, IA1, IC1 uint32
}

// Apply encrypts or decrypts data in place with the frame key (the same function does both).
// M1 = 0 is treated as 1, as the C reference would divide by zero.
func (c Cipher) Apply(key uint32, data []byte) {
	m1 := c.M1
	if m1 == 0 {
		m1 = 1
	}
	if key == 0 {
		key = 1
	}
	for i := range data {
		key = c.IA1*(key%m1) + c.IC1
		data[i] ^= byte(key >> 20)
	}
}

// CRC16 is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor).
func CRC16(data []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range data {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Codec encodes and decodes frames of one version, with the cipher keys of the link.
type Codec struct {
	Version Version
	Cipher  *Cipher // nil: encrypted frames cannot be read or written
}

func (c Codec) headerLen() int {
	if c.Version == V2019 {
		return HeaderLen2019
	}
	return HeaderLen2011
}

// Encode builds a complete escaped frame of h and the plain body. When h.Encrypted the body is
// encrypted with h.EncryptKey (the CRC covers the encrypted body).
func (c Codec) Encode(h Header, body []byte) ([]byte, error) {
	hl := c.headerLen()
	n := 1 + hl + len(body) + 2 + 1
	raw := make([]byte, 0, n)
	raw = binary.BigEndian.AppendUint32(raw, uint32(n))
	raw = binary.BigEndian.AppendUint32(raw, h.SN)
	raw = binary.BigEndian.AppendUint16(raw, h.MsgID)
	raw = binary.BigEndian.AppendUint32(raw, h.GNSSCenterID)
	raw = append(raw, h.VersionFlag[:]...)
	if h.Encrypted {
		raw = append(raw, 1)
	} else {
		raw = append(raw, 0)
	}
	raw = binary.BigEndian.AppendUint32(raw, h.EncryptKey)
	if c.Version == V2019 {
		var ts uint64
		if !h.Time.IsZero() {
			ts = uint64(h.Time.Unix())
		}
		raw = binary.BigEndian.AppendUint64(raw, ts)
	}
	start := len(raw)
	raw = append(raw, body...)
	if h.Encrypted {
		if c.Cipher == nil {
			return nil, ErrNoCipher
		}
		c.Cipher.Apply(h.EncryptKey, raw[start:])
	}
	raw = binary.BigEndian.AppendUint16(raw, CRC16(raw))
	out := make([]byte, 0, len(raw)+len(raw)/8+2)
	out = append(out, HeadFlag)
	out = appendEscaped(out, raw)
	out = append(out, TailFlag)
	return out, nil
}

func appendEscaped(out, raw []byte) []byte {
	for _, b := range raw {
		switch b {
		case 0x5B:
			out = append(out, 0x5A, 0x01)
		case 0x5A:
			out = append(out, 0x5A, 0x02)
		case 0x5D:
			out = append(out, 0x5E, 0x01)
		case 0x5E:
			out = append(out, 0x5E, 0x02)
		default:
			out = append(out, b)
		}
	}
	return out
}

// Unescape reverses the escapes of the bytes between the flags.
func Unescape(in []byte) ([]byte, error) {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		b := in[i]
		if b != 0x5A && b != 0x5E {
			out = append(out, b)
			continue
		}
		if i+1 >= len(in) {
			return nil, ErrEscape
		}
		i++
		switch {
		case b == 0x5A && in[i] == 0x01:
			out = append(out, 0x5B)
		case b == 0x5A && in[i] == 0x02:
			out = append(out, 0x5A)
		case b == 0x5E && in[i] == 0x01:
			out = append(out, 0x5D)
		case b == 0x5E && in[i] == 0x02:
			out = append(out, 0x5E)
		default:
			return nil, ErrEscape
		}
	}
	return out, nil
}

// Decode reads one complete frame (0x5B ... 0x5D, escaped): it unescapes, checks MSG_LENGTH
// (the whole unescaped frame, flags and CRC included) and the CRC, and decrypts the body.
// The returned body is plain.
func (c Codec) Decode(frame []byte) (Header, []byte, error) {
	var h Header
	if len(frame) > MaxFrame {
		return h, nil, ErrTooLarge
	}
	if len(frame) < 2 || frame[0] != HeadFlag || frame[len(frame)-1] != TailFlag {
		return h, nil, ErrFlags
	}
	raw, err := Unescape(frame[1 : len(frame)-1])
	if err != nil {
		return h, nil, err
	}
	hl := c.headerLen()
	if len(raw) < hl+2 {
		return h, nil, ErrShort
	}
	h.Length = binary.BigEndian.Uint32(raw)
	if int64(h.Length) != int64(len(raw))+2 {
		return h, nil, fmt.Errorf("%w: MSG_LENGTH %d, frame %d bytes", ErrLength, h.Length, len(raw)+2)
	}
	want := binary.BigEndian.Uint16(raw[len(raw)-2:])
	if got := CRC16(raw[:len(raw)-2]); got != want {
		return h, nil, fmt.Errorf("%w: frame says %04X, computed %04X", ErrCRC, want, got)
	}
	h.SN = binary.BigEndian.Uint32(raw[4:])
	h.MsgID = binary.BigEndian.Uint16(raw[8:])
	h.GNSSCenterID = binary.BigEndian.Uint32(raw[10:])
	copy(h.VersionFlag[:], raw[14:17])
	h.Encrypted = raw[17] == 1
	h.EncryptKey = binary.BigEndian.Uint32(raw[18:])
	if c.Version == V2019 {
		if ts := binary.BigEndian.Uint64(raw[22:]); ts != 0 && ts < 1<<40 {
			h.Time = time.Unix(int64(ts), 0).UTC()
		}
	}
	body := raw[hl : len(raw)-2]
	if h.Encrypted && len(body) > 0 {
		if c.Cipher == nil {
			return h, nil, ErrNoCipher
		}
		c.Cipher.Apply(h.EncryptKey, body)
	}
	return h, body, nil
}
