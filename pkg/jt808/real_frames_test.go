package jt808

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// realFrames loads testdata/real_frames.txt: frames published by other implementations,
// most of them captured from real terminals. Sources (repository · path):
//
//	huabao:        traccar/traccar · src/test/java/org/traccar/protocol/HuabaoProtocolDecoderTest.java
//	jt808:         traccar/traccar · src/test/java/org/traccar/protocol/Jt808ProtocolDecoderTest.java
//	smallchi0200:  SmallChi/JT808 · src/JT808.Protocol.Test/MessageBody/JT808_0x0200Test.cs
//	smallchiforce: SmallChi/JT808 · src/JT808.Protocol.Test/MessageBody/JT808_0x0200Test.cs (Test5_3, Test5_4: JT808Version.JTT2013Force)
//	gojt808:       cuteLittleDevil/go-jt808 · terminal/testdata/[<msg id>]-JT<year>-*.txt
func realFrames(t testing.TB) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/real_frames.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			t.Fatalf("bad line %q", line)
		}
		b, err := hex.DecodeString(parts[2])
		if err != nil {
			t.Fatalf("%s: %v", parts[0], err)
		}
		out[parts[0]] = b
	}
	return out
}

func decodeOK(t *testing.T, frames map[string][]byte, name string) Frame {
	t.Helper()
	b, ok := frames[name]
	if !ok {
		t.Fatalf("no frame %s", name)
	}
	f, _, err := DecodeFrame(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

// rawBody extracts the body of a frame whose check code is wrong, to test body decoding.
func rawBody(t *testing.T, b []byte) (Header, []byte) {
	t.Helper()
	raw, err := Unescape(nil, b[1:len(b)-1])
	if err != nil {
		t.Fatal(err)
	}
	h, ok := parseHeader(raw[:len(raw)-1])
	if !ok {
		// The length field is wrong too: read the header loosely, take the rest as body.
		if h, ok = readHeaderLoose(raw[:len(raw)-1]); !ok {
			t.Fatal("header")
		}
	}
	return h, raw[h.Len() : len(raw)-1]
}

func TestRealFramesAllDecodeOrFailCleanly(t *testing.T) {
	badChecksum := map[string]bool{
		// Published with a wrong check code (Traccar and SmallChi do not verify it).
		"huabao_loc1": true, "smallchi_two_zero_items": true, "smallchi_broken_last_item": true,
	}
	for name, b := range realFrames(t) {
		f, readable, err := DecodeFrame(b)
		if badChecksum[name] {
			if !errors.Is(err, ErrChecksum) || !readable {
				t.Errorf("%s: err %v readable %v, want ErrChecksum with a readable header", name, err, readable)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(f.Body) != f.Header.BodyLen {
			t.Errorf("%s: body %d bytes, header says %d", name, len(f.Body), f.Header.BodyLen)
		}
	}
}

func TestRealRegistration(t *testing.T) {
	frames := realFrames(t)
	tests := []struct {
		name                       string
		version                    Version
		phone, terminalID          string
		serial                     uint16
		layout                     int
		maker, model, devID, plate string
		color                      byte
		province, city             uint16
	}{
		{"huabao_reg_2013", V2013, "014130567872", "14130567872", 0x24, 2013, "70111", "BSJ-A6-BD", "0567872", "粤B88888", 1, 44, 303},
		{"huabao_reg_2013c", V2013, "013511221122", "13511221122", 5, 2013, "70107", "HB-R03GBD", "2366104", "苏BA6860", 2, 0, 0},
		{"huabao_reg_2013b", V2013, "007089994489", "7089994489", 0x28, 2013, "", "HB-R03GBD", "1906751", "ABC00000", 2, 0, 0},
		{"gojt808_reg_2011", V2013, "123456782011", "123456782011", 1, 2011, "cd123", "www.808.", "7654321", "测A12345678", 1, 31, 110},
		{"gojt808_reg_2019", V2019, "12345678901234562019", "12345678901234562019", 1, 2019, "cd123456789", "www.808.com", "7654321", "测A12345678", 1, 31, 110},
		// A real 2019 device that puts its IMEI in the terminal-ID field.
		{"jt808_reg_2019", V2019, "00000866496077582164", "866496077582164", 0x5218, 2019, "", "MD300", "866496077582164", "", 4, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := decodeOK(t, frames, tt.name)
			h := f.Header
			id, ok := h.TerminalID()
			if h.MsgID != MsgRegister || h.Version != tt.version || h.Phone != tt.phone || !ok || id != tt.terminalID || h.Serial != tt.serial {
				t.Fatalf("header %+v (terminal id %q)", h, id)
			}
			r, err := ParseRegister(f.Body, h.Version)
			if err != nil {
				t.Fatal(err)
			}
			if r.Layout != tt.layout || r.Manufacturer != tt.maker || r.Model != tt.model || r.TerminalID != tt.devID ||
				r.Plate != tt.plate || r.PlateColor != tt.color || r.Province != tt.province || r.City != tt.city {
				t.Errorf("got %+v", r)
			}
		})
	}
	// The 2011-layout frame from Traccar is all zeros but for a binary terminal id.
	f := decodeOK(t, frames, "huabao_reg_2011")
	if r, err := ParseRegister(f.Body, f.Header.Version); err != nil || r.Layout != 2011 {
		t.Errorf("huabao_reg_2011: %+v %v", r, err)
	}
}

func TestRealAuth(t *testing.T) {
	frames := realFrames(t)
	tests := []struct {
		name, code, terminalID string
		version                Version
		stray                  bool
		idOK                   bool
	}{
		{"huabao_auth", "authentication", "13511221122", V2013, false, true},
		{"huabao_auth2", "2011110811332196", "94027849470", V2013, false, true},
		// 2019 header, but the body is the bare code (2013 layout).
		{"gojt808_auth_2019", "987654321", "17299841738", V2019, false, true},
		// 2013-shaped header with a stray bit 14 (SmallChi JTT2013Force).
		{"smallchi_stray14_auth", "J10030000681", "10030000681", V2013, true, true},
		// A phone with hex nibbles: not a usable terminal id.
		{"jt808_auth_hexphone", "ODY4OTM1MDYwMDA1MDIwbmV3U25SdWxl", "", V2013, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := decodeOK(t, frames, tt.name)
			id, ok := f.Header.TerminalID()
			if f.Header.Version != tt.version || f.Header.StrayVersionBit != tt.stray || ok != tt.idOK || id != tt.terminalID {
				t.Fatalf("header %+v id %q ok %v", f.Header, id, ok)
			}
			a, err := ParseAuth(f.Body, f.Header.Version)
			if err != nil || a.Code != tt.code {
				t.Errorf("auth %+v %v, want code %q", a, err, tt.code)
			}
		})
	}
}

func TestRealLocations(t *testing.T) {
	frames := realFrames(t)
	type want struct {
		lat, lon, speed float64
		heading         uint16
		alt             int16
		ts              string
		fix             bool
		alarms          []string
		odo, fuel       *float64
		sats            *uint8
		extras          int
		truncated       bool
	}
	u8 := func(v uint8) *uint8 { return &v }
	tests := []struct {
		name string
		want want
	}{
		{"huabao_loc_unknown_items", want{lat: 50.871735, lon: -1.255923, speed: 2, ts: "2013-04-12T16:49:52+08:00", fix: true, alarms: []string{"emergency"}, odo: fp(1.8), extras: 1}},
		{"huabao_loc_south_nofix", want{lat: -19.591535, lon: -46.912186, ts: "2015-01-01T19:42:57+08:00", fix: true, odo: fp(11.9)}},
		{"huabao_loc_power_low", want{lat: 22.641605, lon: 114.032486, alt: 235, heading: 341, ts: "2021-07-26T20:35:31+08:00", fix: true, alarms: []string{"power_low"}, odo: fp(0), extras: 1}},
		{"huabao_loc_fuel_speed", want{lat: 22.6426, lon: 114.032984, alt: 128, heading: 8, ts: "2015-08-18T07:21:21+08:00", fix: true, odo: fp(75.7), fuel: fp(0)}},
		{"smallchi_real", want{lat: 22.76875, lon: 113.792664, alt: 30, heading: 224, ts: "2018-09-16T10:35:37+08:00", fix: true, odo: fp(34726.1), fuel: fp(0), sats: u8(13)}},
		{"smallchi_stray14_loc", want{lat: 40.670063, lon: 122.4523, alt: 4, speed: 86.7, heading: 215, ts: "2021-06-25T15:57:39+08:00", fix: true, odo: fp(0), sats: u8(18), extras: 3}},
		{"gojt808_loc_2019", want{lat: 116.307629, lon: 40.058359, alt: 312, speed: 0.3, heading: 99, ts: "2024-10-01T23:59:59+08:00", fix: false, alarms: []string{"tts_fault"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := decodeOK(t, frames, tt.name)
			l, err := ParseLocation(f.Body, nil)
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if l.Lat != w.lat || l.Lon != w.lon || l.SpeedKmh != w.speed || l.Heading != w.heading || l.AltitudeM != w.alt ||
				l.Time.Format(time.RFC3339) != w.ts || l.FixValid() != w.fix || len(l.Extras) != w.extras || l.Truncated != w.truncated {
				t.Errorf("got %+v", l)
			}
			if got := AlarmNames(l.Alarm, f.Header.Version); strings.Join(got, ",") != strings.Join(w.alarms, ",") {
				t.Errorf("alarms %v, want %v", got, w.alarms)
			}
			eqf := func(name string, got, want *float64) {
				if (got == nil) != (want == nil) || (got != nil && *got != *want) {
					t.Errorf("%s = %v, want %v", name, deref(got), deref(want))
				}
			}
			eqf("mileage", l.MileageKm, w.odo)
			eqf("fuel", l.FuelL, w.fuel)
			if (l.Satellites == nil) != (w.sats == nil) || (l.Satellites != nil && *l.Satellites != *w.sats) {
				t.Errorf("satellites = %v, want %v", l.Satellites, w.sats)
			}
			p, err := l.Position(f.Header.Version)
			switch {
			case !w.fix:
				if !errors.Is(err, ErrNoFix) {
					t.Errorf("Position: %v, want ErrNoFix", err)
				}
			case err != nil:
				t.Errorf("Position: %v", err)
			default:
				if p.Lat != w.lat || p.Lon != w.lon || !p.TS.Equal(l.Time) || *p.SpeedKmh != w.speed {
					t.Errorf("position %+v", p)
				}
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return "absent"
	}
	return *p
}

// Frames with a wrong check code carry bodies with broken item lists; the basic block must
// survive them.
func TestRealBrokenItems(t *testing.T) {
	frames := realFrames(t)
	// SmallChi Test7: two items with id 0x00 among the standard ones.
	_, body := rawBody(t, frames["smallchi_two_zero_items"])
	l, err := ParseLocation(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.MileageKm == nil || *l.MileageKm != 941.5 || l.RSSI == nil || *l.RSSI != 23 || l.Satellites == nil || *l.Satellites != 27 || len(l.Extras) != 3 {
		t.Errorf("Test7: %+v", l)
	}
	// SmallChi Test8: a final item (0xF6) whose length runs past the body; 0x05/0x06/0x07 with odd lengths.
	_, body = rawBody(t, frames["smallchi_broken_last_item"])
	l, err = ParseLocation(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Truncated || l.MileageKm == nil || *l.MileageKm != 125189.2 || l.Satellites == nil || *l.Satellites != 5 || l.Time.Format(time.RFC3339) != "2011-01-11T03:11:52+08:00" {
		t.Errorf("Test8: %+v", l)
	}
	// Traccar frame with a wrong check code and a body-length field of 50 for 40 bytes: the
	// gateway answers result 2; the bytes that are there still decode.
	h, body := rawBody(t, frames["huabao_loc1"])
	if h.Serial != 7 || h.Phone != "013511221122" {
		t.Errorf("header %+v", h)
	}
	if l, err = ParseLocation(body, nil); err != nil || l.Lat != 22.514880 || l.Lon != 113.916508 {
		t.Errorf("huabao_loc1: %+v %v", l, err)
	}
}

func TestRealBatches(t *testing.T) {
	frames := realFrames(t)
	tests := []struct {
		name     string
		version  Version
		typ      byte
		items    int
		valid    int
		first    string
		firstLat float64
		sats     *uint8
	}{
		{"huabao_batch_backfill8", V2013, 1, 8, 8, "2016-05-27T09:06:24+08:00", 22.639634, nil},
		{"huabao_batch4", V2013, 1, 4, 4, "2018-05-14T20:28:47+08:00", 23.169734, nil},
		{"jt808_batch_2013", V2013, 1, 1, 1, "2026-08-17T22:18:12+08:00", 33.697808, nil},
		{"jt808_batch_2019", V2019, 0, 1, 1, "2026-05-09T16:42:27+08:00", -27.263378, nil},
		{"gojt808_batch_2019", V2019, 0, 2, 0, "2024-10-01T23:59:59+08:00", 116.307629, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := decodeOK(t, frames, tt.name)
			if f.Header.Version != tt.version {
				t.Fatalf("version %v", f.Header.Version)
			}
			b, err := ParseBatch(f.Body, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b.Type != tt.typ || len(b.Items) != tt.items || b.Bad != 0 || b.Count != tt.items {
				t.Fatalf("batch type %d count %d items %d bad %d", b.Type, b.Count, len(b.Items), b.Bad)
			}
			valid := 0
			for i := range b.Items {
				if _, err := b.Items[i].Position(f.Header.Version); err == nil {
					valid++
				}
			}
			if valid != tt.valid {
				t.Errorf("%d valid positions, want %d", valid, tt.valid)
			}
			if got := b.Items[0].Time.Format(time.RFC3339); got != tt.first || b.Items[0].Lat != tt.firstLat {
				t.Errorf("first item %s %v", got, b.Items[0].Lat)
			}
		})
	}
	// The Traccar 2013 and 2019 batches report 14 satellites in their last field.
	for _, name := range []string{"jt808_batch_2013", "jt808_batch_2019"} {
		f := decodeOK(t, frames, name)
		b, _ := ParseBatch(f.Body, nil)
		if s := b.Items[0].Satellites; s == nil || *s != 14 {
			t.Errorf("%s: satellites %v, want 14", name, s)
		}
	}
}

// Replies must be byte-identical to the published ones.
func TestRealReplies(t *testing.T) {
	frames := realFrames(t)
	// go-jt808 answers its 2019 0x0200 (serial 1) with platform serial 1.
	loc := decodeOK(t, frames, "gojt808_loc_2019")
	if got, want := GeneralResponse(loc.Header, 1, ResultOK), frames["gojt808_8001_2019"]; string(got) != string(want) {
		t.Errorf("0x8001 2019:\n got %x\nwant %x", got, want)
	}
	reg := decodeOK(t, frames, "gojt808_reg_2011")
	if got, want := RegisterResponse(reg.Header, 1, RegisterOK, "123456782011"), frames["gojt808_8100_2011"]; string(got) != string(want) {
		t.Errorf("0x8100 2011:\n got %x\nwant %x", got, want)
	}
	h := Header{Version: V2013, Phone: "123456782013", Serial: 1, MsgID: MsgRegister}
	if got, want := RegisterResponse(h, 1, RegisterOK, "1234567890abcdefghijk"), frames["gojt808_8100_2013"]; string(got) != string(want) {
		t.Errorf("0x8100 2013:\n got %x\nwant %x", got, want)
	}
}
