package jt809

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"
)

func TestRoundTripBodies(t *testing.T) {
	at := time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)
	g := GNSS{Time: at, Lon: 107.123456, Lat: 29.654321, SpeedKmh: 62, Direction: 270, AltitudeM: 180, State: 3}
	for _, v := range []Version{V2011, V2019} {
		g := g
		if v == V2011 {
			g.Speed2Kmh, g.MileageKm = 61, 1234
		} else {
			g.PlatformIDs = [3]string{"12345678901", "", ""}
		}
		hist, err := HistoryLocation{GNSS: []GNSS{g, g}}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			data []byte
			want any
			dt   uint16
		}{
			{"0x1202", RealLocation{GNSS: g}.Marshal(v), RealLocation{GNSS: g}, DataRealLocation},
			{"0x1203", hist, HistoryLocation{GNSS: []GNSS{g, g}}, DataHistoryLocation},
			{"0x1401", UrgeTodoAck{SupervisionID: 7, SourceDataType: pick(v, 0, 0x1402), SourceMsgSN: uint32(pick(v, 0, 9)), Result: ResultDone}.Marshal(v),
				UrgeTodoAck{SupervisionID: 7, SourceDataType: pick(v, 0, 0x1402), SourceMsgSN: uint32(pick(v, 0, 9)), Result: ResultDone}, DataUrgeTodoAck},
			{"0x1301", PostQueryAck{InfoID: uint32(pick(v, 5, 0)), Content: "值班员张三在岗", SourceMsgSN: uint32(pick(v, 0, 3))}.Marshal(v),
				PostQueryAck{InfoID: uint32(pick(v, 5, 0)), Content: "值班员张三在岗", SourceMsgSN: uint32(pick(v, 0, 3))}, DataPostQueryAck},
			{"0x9301", PostQueryReq{InfoID: 5, Content: "请回答", AnswerMin: uint8(pick(v, 0, 10))}.Marshal(v),
				PostQueryReq{InfoID: 5, Content: "请回答", AnswerMin: uint8(pick(v, 0, 10))}, DataPostQueryReq},
		}
		wi := WarnInfo{Type: WarnRouteDeviation, Time: at, Content: "偏离路线"}
		if v == V2011 {
			wi.Src, wi.InfoID = WarnSrcEnterprise, 42
		} else {
			wi.StartTime, wi.Plate, wi.Color = at, "渝A12345", ColorYellow
		}
		cases = append(cases, struct {
			name string
			data []byte
			want any
			dt   uint16
		}{"0x1402", wi.Marshal(v), wi, DataAdptInfo})
		hr := HandleResult{Result: ResultNoAction}
		if v == V2011 {
			hr.InfoID = 42
		} else {
			hr.SourceDataType, hr.SourceMsgSN = DataAdptInfo, 77
		}
		cases = append(cases, struct {
			name string
			data []byte
			want any
			dt   uint16
		}{"result", hr.Marshal(v), hr, hr.DataType(v)})
		u := UrgeTodoReq{WarnTime: at, EndTime: at.Add(time.Hour), Level: 0, Supervisor: "李四", SupervisorTel: "023-1234"}
		if v == V2011 {
			u.Src, u.Type, u.SupervisionID = WarnSrcEnterprise, WarnRouteDeviation, 99
		} else {
			u.SourceDataType, u.SourceMsgSN = DataAdptInfo, 77
		}
		cases = append(cases, struct {
			name string
			data []byte
			want any
			dt   uint16
		}{"0x9401", u.Marshal(v), u, DataUrgeTodoReq})

		for _, c := range cases {
			msgID := uint16(MsgUpExg)
			switch c.dt >> 8 {
			case 0x13:
				msgID = MsgUpPlatform
			case 0x14:
				msgID = MsgUpWarn
			case 0x93:
				msgID = MsgDownPlatform
			case 0x94:
				msgID = MsgDownWarn
			}
			wr := VehicleMsg{NoPlate: !PlateIn(v, msgID), Plate: "渝A12345", Color: ColorYellow, DataType: c.dt, Data: c.data}
			if wr.NoPlate {
				wr.Plate, wr.Color = "", 0
			}
			codec := Codec{Version: v, Cipher: &Cipher{M1: 1000, IA1: 2000, IC1: 3000}}
			frame, err := codec.Encode(Header{SN: 1, MsgID: msgID, GNSSCenterID: 9, Encrypted: true, EncryptKey: 1234, Time: at}, wr.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			h, body, err := codec.Decode(frame)
			if err != nil {
				t.Fatalf("%d %s: %v", v, c.name, err)
			}
			if v == V2019 && !h.Time.Equal(at) {
				t.Errorf("%d %s: header time %v", v, c.name, h.Time)
			}
			got, err := ParseBody(v, h.MsgID, body)
			if err != nil {
				t.Fatalf("%d %s: %v", v, c.name, err)
			}
			bz := got.(Business)
			if bz.Wrapper.Plate != wr.Plate || !reflect.DeepEqual(bz.Data, c.want) {
				t.Errorf("%d %s:\n got %+v %+v\nwant %+v", v, c.name, bz.Wrapper, bz.Data, c.want)
			}
		}
	}
}

func pick(v Version, a, b uint16) uint16 {
	if v == V2011 {
		return a
	}
	return b
}

func TestLoginBodies(t *testing.T) {
	req := UpConnectReq{UserID: 1, Password: "pw", GNSSCenterID: 3, DownLinkIP: "10.0.0.1", DownLinkPort: 9000}
	if n := len(req.Marshal(V2011)); n != 46 {
		t.Fatalf("2011 0x1001 body %d bytes", n)
	}
	if n := len(req.Marshal(V2019)); n != 50 {
		t.Fatalf("2019 0x1001 body %d bytes", n)
	}
	got, err := ParseUpConnectReq(V2019, req.Marshal(V2019))
	if err != nil || got != req {
		t.Fatalf("%+v %v", got, err)
	}
	f11, _ := Codec{Version: V2011}.Encode(Header{MsgID: MsgUpConnectReq}, req.Marshal(V2011))
	f19, _ := Codec{Version: V2019}.Encode(Header{MsgID: MsgUpConnectReq}, req.Marshal(V2019))
	r11, _ := Unescape(f11[1 : len(f11)-1])
	r19, _ := Unescape(f19[1 : len(f19)-1])
	if len(r11)+2 != 72 || len(r19)+2 != 84 {
		t.Fatalf("0x1001 frames %d and %d bytes, want 72 and 84", len(r11)+2, len(r19)+2)
	}
	rsp, err := ParseUpConnectRsp(UpConnectRsp{Result: LoginBadPassword, VerifyCode: 0xABCD}.Marshal())
	if err != nil || rsp.Result != LoginBadPassword || rsp.VerifyCode != 0xABCD {
		t.Fatalf("%+v %v", rsp, err)
	}
	if LoginResultText(LoginBadPassword) != "password incorrect" {
		t.Fatal(LoginResultText(4))
	}
}

func TestDecodeErrors(t *testing.T) {
	c := Codec{Version: V2011}
	good, _ := c.Encode(Header{SN: 1, MsgID: MsgUpLinkTestReq}, nil)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-2] ^= 1
	badLen := bytes.Clone(good)
	badLen[4] = 0x30
	enc, _ := Codec{Version: V2011, Cipher: &Cipher{M1: 1}}.Encode(Header{MsgID: MsgUpExg, Encrypted: true, EncryptKey: 5}, []byte{1, 2, 3})
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrFlags},
		{"no tail", good[:len(good)-1], ErrFlags},
		{"short", []byte{0x5B, 0, 0x5D}, ErrShort},
		{"bad escape", []byte{0x5B, 0x5A, 0x07, 0x5D}, ErrEscape},
		{"dangling escape", []byte{0x5B, 0x5E, 0x5D}, ErrEscape},
		{"crc", badCRC, ErrCRC},
		{"length", badLen, ErrLength},
		{"no cipher", enc, ErrNoCipher},
	} {
		if _, _, err := c.Decode(tc.frame); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := ParseBody(V2011, MsgUpExg, []byte{1, 2}); !errors.Is(err, ErrBody) {
		t.Errorf("short wrapper: %v", err)
	}
	if _, err := ParseHistoryLocation(V2011, []byte{0}); !errors.Is(err, ErrBody) {
		t.Errorf("GNSS_CNT 0: %v", err)
	}
}

func TestFrameReader(t *testing.T) {
	c := Codec{Version: V2011}
	f1, _ := c.Encode(Header{SN: 1, MsgID: MsgUpLinkTestReq}, nil)
	f2, _ := c.Encode(Header{SN: 0x5B5D, MsgID: MsgUpLinkTestRsp}, nil)
	var stream []byte
	stream = append(stream, "garbage"...)
	stream = append(stream, f1...)
	stream = append(stream, 0x5B, 1, 2, 3) // broken frame, restarted by the next 0x5B
	stream = append(stream, f2...)
	big := append([]byte{0x5B}, bytes.Repeat([]byte{1}, MaxFrame+10)...)
	stream = append(append(stream, big...), 0x5D)
	stream = append(stream, f1...)
	fr := NewFrameReader(bytes.NewReader(stream))
	var got [][]byte
	for {
		f, err := fr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bytes.Clone(f))
	}
	if len(got) != 3 || !bytes.Equal(got[0], f1) || !bytes.Equal(got[1], f2) || !bytes.Equal(got[2], f1) {
		t.Fatalf("frames %X", got)
	}
	if fr.Skipped < MaxFrame {
		t.Fatalf("skipped %d", fr.Skipped)
	}
}
