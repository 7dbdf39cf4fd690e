package j1939

import (
	"testing"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Identifier vectors from /work/shared/protocols/JT808-J1939.md §4.1 (checked there with a script).
func TestParseID(t *testing.T) {
	tests := []struct {
		raw     uint32
		prio    uint8
		pgn     uint32
		sa, da  uint8
		pdu1    bool
		wantErr bool
	}{
		{raw: 0x0CF00400, prio: 3, pgn: 61444, sa: 0x00, da: 0xFF},
		{raw: 0x18FEF100, prio: 6, pgn: 65265, sa: 0x00, da: 0xFF},
		{raw: 0x18FEEE00, prio: 6, pgn: 65262, sa: 0x00, da: 0xFF},
		{raw: 0x18FEFC17, prio: 6, pgn: 65276, sa: 0x17, da: 0xFF},
		{raw: 0x18EAFF00, prio: 6, pgn: 59904, sa: 0x00, da: 0xFF, pdu1: true},
		{raw: 0x1CFEF150, prio: 7, pgn: 65265, sa: 0x50, da: 0xFF},
		{raw: 0x18EA1700, prio: 6, pgn: 59904, sa: 0x00, da: 0x17, pdu1: true},
		{raw: 0x01FEC1EE, prio: 0, pgn: 0x1FEC1, sa: 0xEE, da: 0xFF}, // data page set
		{raw: 1 << 29, wantErr: true},
	}
	for _, tt := range tests {
		id, err := ParseID(tt.raw)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseID(%#x): want error", tt.raw)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseID(%#x): %v", tt.raw, err)
		}
		if id.Priority != tt.prio || id.PGN != tt.pgn || id.Source != tt.sa || id.Destination != tt.da || id.PDU1() != tt.pdu1 {
			t.Errorf("ParseID(%#x) = %+v, want prio %d pgn %d sa %#x da %#x pdu1 %v", tt.raw, id, tt.prio, tt.pgn, tt.sa, tt.da, tt.pdu1)
		}
	}
}

func ptr(v float64) *float64 { return &v }

func TestDecode(t *testing.T) {
	type want struct {
		speed, rpm, fuel, coolant, odo *float64
	}
	tests := []struct {
		name string
		id   string
		data string
		want want
	}{
		// JT808-J1939.md §0x0705 constructed example: EEC1 ETI vector, bytes 4–5 = 0x0960 → 300 rpm.
		{"EEC1 300 rpm", "0CF00400", "1122336009667788", want{rpm: ptr(300)}},
		{"EEC1 max", "0CF00400", "FFFFFFFFFAFFFFFF", want{rpm: ptr(8031.875)}},
		{"EEC1 not available", "0CF00400", "FFFFFFFFFFFFFFFF", want{}},
		{"EEC1 error", "0CF00400", "FFFFFF00FEFFFFFF", want{}},
		{"CCVS1 25 km/h", "18FEF100", "FF0019FFFFFFFFFF", want{speed: ptr(25)}},
		{"CCVS1 other SA", "1CFEF150", "FF8050FFFFFFFFFF", want{speed: ptr(80.5)}},
		{"CCVS1 n/a", "18FEF100", "FFFFFFFFFFFFFFFF", want{}},
		{"DD1 full", "18FEFC17", "FFFAFFFFFFFFFFFF", want{fuel: ptr(100)}},
		{"DD1 half", "18FEFC17", "FF7DFFFFFFFFFFFF", want{fuel: ptr(50)}},
		{"DD1 n/a", "18FEFC17", "FFFFFFFFFFFFFFFF", want{}},
		{"DD1 error", "18FEFC17", "FFFEFFFFFFFFFFFF", want{}},
		{"DD1 reserved FB", "18FEFC17", "FFFBFFFFFFFFFFFF", want{}},
		{"ET1 50 C", "18FEEE00", "5AFFFFFFFFFFFFFF", want{coolant: ptr(50)}},
		{"ET1 -40 C", "18FEEE00", "00FFFFFFFFFFFFFF", want{coolant: ptr(-40)}},
		{"ET1 210 C", "18FEEE00", "FAFFFFFFFFFFFFFF", want{coolant: ptr(210)}},
		{"ET1 n/a", "18FEEE00", "FFFFFFFFFFFFFFFF", want{}},
		{"VD 512 km", "18FEE000", "FFFFFFFF00100000", want{odo: ptr(512)}},
		{"VD n/a", "18FEE000", "FFFFFFFFFFFFFFFF", want{}},
		{"VD error", "18FEE000", "FFFFFFFF000000FE", want{}},
		{"VDHR 5000 km", "18FEC100", "40420F00FFFFFFFF", want{odo: ptr(5000)}},
		{"unknown PGN", "18FEF200", "0000000000000000", want{}},
		{"short data", "18FEEE00", "5A", want{coolant: ptr(50)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, v, err := DecodeFrame(tracking.CANFrame{ID: tt.id, Data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got, want *float64) {
				t.Helper()
				switch {
				case got == nil && want == nil:
				case got == nil || want == nil:
					t.Errorf("%s = %v, want %v", name, deref(got), deref(want))
				case *got != *want:
					t.Errorf("%s = %v, want %v", name, *got, *want)
				}
			}
			check("speed", v.SpeedKmh, tt.want.speed)
			check("rpm", v.EngineRPM, tt.want.rpm)
			check("fuel", v.FuelPct, tt.want.fuel)
			check("coolant", v.CoolantC, tt.want.coolant)
			check("odometer", v.OdometerKm, tt.want.odo)
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return "absent"
	}
	return *p
}

func TestDecodeFrameErrors(t *testing.T) {
	for _, fr := range []tracking.CANFrame{
		{ID: "", Data: "00"},
		{ID: "123456789", Data: "00"},
		{ID: "XYZ", Data: "00"},
		{ID: "20000000", Data: "00"},
		{ID: "18FEEE00", Data: "0"},
		{ID: "18FEEE00", Data: "zz"},
		{ID: "18FEEE00", Data: "000000000000000000"},
	} {
		if _, _, err := DecodeFrame(fr); err == nil {
			t.Errorf("DecodeFrame(%+v): want error", fr)
		}
	}
	if _, _, err := Decode(0x18FEEE00, make([]byte, 9)); err == nil {
		t.Error("Decode with 9 data bytes: want error")
	}
}

func TestApply(t *testing.T) {
	speed := 42.0
	p := tracking.Position{
		SpeedKmh: &speed, // present: must be kept
		CAN: []tracking.CANFrame{
			{ID: "18FEF100", Data: "FF0019FFFFFFFFFF"}, // 25 km/h, ignored
			{ID: "0CF00400", Data: "1122336009667788"}, // 300 rpm
			{ID: "18FEFC17", Data: "FFFFFFFFFFFFFFFF"}, // fuel n/a: stays absent
			{ID: "18FEEE00", Data: "5AFFFFFFFFFFFFFF"}, // 50 °C
			{ID: "18FEC100", Data: "40420F00FFFFFFFF"}, // 5000 km high-res
			{ID: "18FEE000", Data: "FFFFFFFF00100000"}, // 512 km low-res: loses to high-res
			{ID: "nothex", Data: "00"},
		},
	}
	err := Apply(&p)
	if tracking.ErrorCode(err) != tracking.EINVALID {
		t.Errorf("Apply error = %v, want EINVALID for the bad frame", err)
	}
	if *p.SpeedKmh != 42 {
		t.Errorf("speed overwritten: %v", *p.SpeedKmh)
	}
	if p.EngineRPM == nil || *p.EngineRPM != 300 {
		t.Errorf("rpm = %v", deref(p.EngineRPM))
	}
	if p.FuelPct != nil {
		t.Errorf("fuel = %v, want absent", *p.FuelPct)
	}
	if p.CoolantC == nil || *p.CoolantC != 50 {
		t.Errorf("coolant = %v", deref(p.CoolantC))
	}
	if p.OdometerKm == nil || *p.OdometerKm != 5000 {
		t.Errorf("odometer = %v", deref(p.OdometerKm))
	}
	if err := Apply(&tracking.Position{}); err != nil {
		t.Errorf("Apply without CAN: %v", err)
	}
	if err := Apply(nil); err != nil {
		t.Errorf("Apply(nil): %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint32(0x0CF00400), []byte{0x11, 0x22, 0x33, 0x60, 0x09, 0x66, 0x77, 0x88})
	f.Add(uint32(0x18FEF100), []byte{0xFF, 0x00, 0x19, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add(uint32(0x18FEFC17), []byte{0xFF, 0xFA})
	f.Add(uint32(0x18FEEE00), []byte{0x5A})
	f.Add(uint32(0x18FEE000), []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x10, 0x00, 0x00})
	f.Add(uint32(0x18FEC100), []byte{0x40, 0x42, 0x0F, 0x00})
	f.Add(uint32(0xFFFFFFFF), []byte{})
	f.Fuzz(func(t *testing.T, raw uint32, data []byte) {
		id, v, err := Decode(raw, data)
		if raw > MaxID {
			if err == nil {
				t.Fatalf("id %#x accepted", raw)
			}
			return
		}
		if len(data) > 8 {
			if err == nil {
				t.Fatal("9+ data bytes accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if id.Priority > 7 || id.PGN >= 1<<18 {
			t.Fatalf("bad id %+v", id)
		}
		in := func(name string, p *float64, lo, hi float64) {
			if p != nil && (*p < lo || *p > hi) {
				t.Fatalf("%s = %v outside [%v, %v]", name, *p, lo, hi)
			}
		}
		in("speed", v.SpeedKmh, 0, 250.997)
		in("rpm", v.EngineRPM, 0, 8031.875)
		in("fuel", v.FuelPct, 0, 100)
		in("coolant", v.CoolantC, -40, 210)
		in("odometer", v.OdometerKm, 0, 526385151.875)
		// The frame survives the JSON form and Apply never panics.
		p := tracking.Position{CAN: []tracking.CANFrame{{ID: hexID(raw), Data: hexData(data)}}}
		if err := Apply(&p); err != nil {
			t.Fatalf("Apply(%+v): %v", p.CAN, err)
		}
	})
}

func hexID(v uint32) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return string(b)
}

func hexData(d []byte) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 0, 2*len(d))
	for _, c := range d {
		b = append(b, digits[c>>4], digits[c&0xF])
	}
	return string(b)
}

func BenchmarkDecode(b *testing.B) {
	data := []byte{0x11, 0x22, 0x33, 0x60, 0x09, 0x66, 0x77, 0x88}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(0x0CF00400, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	frames := []tracking.CANFrame{
		{ID: "18FEF100", Data: "FF0019FFFFFFFFFF"},
		{ID: "0CF00400", Data: "1122336009667788"},
		{ID: "18FEFC17", Data: "FF7DFFFFFFFFFFFF"},
		{ID: "18FEEE00", Data: "5AFFFFFFFFFFFFFF"},
		{ID: "18FEC100", Data: "40420F00FFFFFFFF"},
	}
	b.ReportAllocs()
	for b.Loop() {
		p := tracking.Position{CAN: frames}
		if err := Apply(&p); err != nil {
			b.Fatal(err)
		}
	}
}
