package jt809

import (
	"testing"
	"time"
)

func benchFrame(b *testing.B, v Version) (Codec, []byte, []byte) {
	c := Codec{Version: v, Cipher: &Cipher{M1: 30000000, IA1: 20000000, IC1: 20000000}}
	g := GNSS{Time: time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC), Lon: 107.1, Lat: 29.85, SpeedKmh: 62, Direction: 90}
	body := VehicleMsg{Plate: "渝A12345", Color: ColorYellow, DataType: DataRealLocation, Data: RealLocation{GNSS: g}.Marshal(v)}.Marshal()
	f, err := c.Encode(Header{SN: 1, MsgID: MsgUpExg, Encrypted: true, EncryptKey: 99}, body)
	if err != nil {
		b.Fatal(err)
	}
	return c, body, f
}

// BenchmarkEncode1202 builds one encrypted 0x1202 frame (what the uplink does per fix).
func BenchmarkEncode1202(b *testing.B) {
	c, body, _ := benchFrame(b, V2011)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(Header{SN: 1, MsgID: MsgUpExg, Encrypted: true, EncryptKey: 99}, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode1202 decodes and parses one encrypted 0x1202 frame.
func BenchmarkDecode1202(b *testing.B) {
	c, _, f := benchFrame(b, V2019)
	b.ReportAllocs()
	for b.Loop() {
		h, body, err := c.Decode(f)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseBody(V2019, h.MsgID, body); err != nil {
			b.Fatal(err)
		}
	}
}
