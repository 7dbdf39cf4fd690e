package jt809

import (
	"bytes"
	"testing"
)

// FuzzDecode: any bytes decode to a frame and a body or to an error, never a panic; a frame
// that decodes re-encodes to a frame that decodes to the same header and body.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{scLogin, scUrge, chLinkTest, chExg, guoJianDutyCheck} {
		f.Add(unhex(f, s), false)
	}
	f.Add(unhex(f, guoJianDutyCheck), true)
	f.Add([]byte{0x5B, 0x5D}, false)
	f.Fuzz(func(t *testing.T, data []byte, v2019 bool) {
		v := V2011
		if v2019 {
			v = V2019
		}
		c := Codec{Version: v, Cipher: &Cipher{M1: 30000000, IA1: 20000000, IC1: 20000000}}
		h, body, err := c.Decode(data)
		if err != nil {
			return
		}
		_, _ = ParseBody(v, h.MsgID, body)
		h.Length = 0
		out, err := c.Encode(h, body)
		if err != nil {
			t.Fatal(err)
		}
		h2, body2, err := c.Decode(out)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		h2.Length = 0
		if h2.MsgID != h.MsgID || h2.SN != h.SN || !bytes.Equal(body, body2) {
			t.Fatalf("round trip changed the frame: %+v %X / %+v %X", h, body, h2, body2)
		}
	})
}

// FuzzBodies: every body decoder of both versions survives any input.
func FuzzBodies(f *testing.F) {
	f.Add(uint16(MsgDownWarn), unhex(f, "D4C1413132333435000000000000000000000000000294010000005C010002000000005BAC3F40123FFAA1000000005BAC4D5003736D616C6C636869000000000000000031323334353637383930310000000000000000003132333435364071712E636F6D00000000000000000000000000000000000000"))
	f.Add(uint16(MsgUpExg), []byte{})
	f.Fuzz(func(t *testing.T, msgID uint16, body []byte) {
		for _, v := range []Version{V2011, V2019} {
			_, _ = ParseBody(v, msgID, body)
		}
	})
}

// FuzzFrameReader: the stream splitter never returns more than MaxFrame bytes nor panics.
func FuzzFrameReader(f *testing.F) {
	f.Add(unhex(f, scLogin+chLinkTest))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data))
		for {
			fb, err := fr.Next()
			if err != nil {
				return
			}
			if len(fb) > MaxFrame || fb[0] != HeadFlag || fb[len(fb)-1] != TailFlag {
				t.Fatalf("bad frame %X", fb)
			}
		}
	})
}
