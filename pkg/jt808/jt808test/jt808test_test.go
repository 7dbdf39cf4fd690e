package jt808test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
)

// The builders produce what the codec reads back.
func TestBuildersRoundTrip(t *testing.T) {
	ts := time.Date(2026, 1, 15, 0, 30, 5, 0, time.UTC)
	l := Location{Alarm: 1 << 8, Status: jt808.StatusFixValid | jt808.StatusACC | jt808.StatusSouth, Lat: 29.56, Lon: 106.55,
		AltitudeM: 245, SpeedKmh: 65.5, Heading: 180, Time: ts, Extras: []byte{jt808.ExtraSatellites, 1, 11}}
	got, err := jt808.ParseLocation(l.Body(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Alarm != l.Alarm || got.Status != l.Status || got.Lat != -29.56 || got.Lon != 106.55 || got.AltitudeM != 245 ||
		got.SpeedKmh != 65.5 || got.Heading != 180 || !got.Time.Equal(ts) || got.Satellites == nil || *got.Satellites != 11 {
		t.Errorf("location %+v", got)
	}
	if b := BCDTime(ts); !bytes.Equal(b, []byte{0x26, 0x01, 0x15, 0x08, 0x30, 0x05}) {
		t.Errorf("BCD time %x, want 260115083005 (GMT+8)", b)
	}
	raw := Location{Status: jt808.StatusFixValid, RawTime: make([]byte, 6)}.Body()
	if got, _ := jt808.ParseLocation(raw, nil); !got.Time.IsZero() || got.RawTime != [6]byte{} {
		t.Errorf("raw zero time read as %v %x", got.Time, got.RawTime)
	}

	batch, err := jt808.ParseBatch(Batch(1, l.Body(), raw), nil)
	if err != nil || batch.Count != 2 || !batch.Backfill() || len(batch.Items) != 2 || batch.Bad != 0 || !batch.Items[0].Time.Equal(ts) {
		t.Errorf("batch %+v, %v", batch, err)
	}

	items := []jt808.CANItem{
		{Extended: true, ID: 0x0CF00400, Data: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Channel: 1, Averaged: true, ID: 0x123, Data: [8]byte{0xff}},
	}
	rx := 10*time.Hour + 30*time.Minute + 15*time.Second + 123*time.Millisecond
	can, err := jt808.ParseCAN(CAN(rx, items...))
	if err != nil || can.Received != rx || len(can.Items) != 2 || can.Items[0] != items[0] || can.Items[1] != items[1] {
		t.Errorf("CAN %+v, %v", can, err)
	}
}

func TestRewriteAndWrap(t *testing.T) {
	h := jt808.Header{Version: jt808.V2013, Phone: "013812345678"}
	// Serial 0x7e7d: both need escaping.
	frame, err := jt808.Encode(h, jt808.MsgHeartbeat, 0x7e7d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if same := Rewrite(t, frame, func(p []byte) []byte { return p }); !bytes.Equal(same, frame) {
		t.Fatalf("identity rewrite %x, want %x", same, frame)
	}
	bad := Rewrite(t, frame, func(p []byte) []byte { p[len(p)-1] ^= 1; return p })
	if _, readable, err := jt808.DecodeFrame(bad); !readable || err == nil {
		t.Errorf("corrupted check code: readable %v err %v", readable, err)
	}
}

// A terminal's messages, packets and registration reach a platform as sent.
func TestTerminal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan jt808.Frame, 8)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var s jt808.Splitter
		buf := make([]byte, 2048)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			s.Feed(buf[:n], func(b []byte) {
				f, _, err := jt808.DecodeFrame(b)
				if err != nil {
					t.Errorf("bad frame %x: %v", b, err)
					return
				}
				got <- f
				var reply []byte
				if f.Header.MsgID == jt808.MsgRegister {
					reply = jt808.RegisterResponse(f.Header, 1, jt808.RegisterOK, "code")
				} else {
					reply = jt808.GeneralResponse(f.Header, 1, jt808.ResultOK)
				}
				_, _ = c.Write(reply)
			})
		}
	}()

	tm := Dial(t, ln.Addr().String(), jt808.V2019, "00000000017299841738")
	if res, code := tm.Register(); res != jt808.RegisterOK || code != "code" {
		t.Fatalf("register %d %q", res, code)
	}
	f := <-got
	if r, err := jt808.ParseRegister(f.Body, jt808.V2019); err != nil || r.Layout != 2019 || r.Plate != "渝A12345" ||
		f.Header.Serial != FirstSerial || f.Header.ProtocolVersion != 1 || f.Header.Phone != tm.Header.Phone {
		t.Errorf("registration %+v %+v, %v", f.Header, r, err)
	}
	tm.Auth("code")
	if f = <-got; f.Header.MsgID != jt808.MsgAuth {
		t.Errorf("auth %+v", f.Header)
	} else if a, err := jt808.ParseAuth(f.Body, jt808.V2019); err != nil || a.Code != "code" || a.Software != "1.0.0" {
		t.Errorf("auth %+v, %v", a, err)
	}
	s := tm.SendPacket(jt808.MsgBatchLocation, 3, 2, []byte{1, 2, 3})
	tm.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultOK)
	if f = <-got; !f.Header.Subpackaged || f.Header.Total != 3 || f.Header.Index != 2 || f.Header.Serial != s ||
		f.Header.Version != jt808.V2019 || !bytes.Equal(f.Body, []byte{1, 2, 3}) {
		t.Errorf("packet %+v %x", f.Header, f.Body)
	}
}
