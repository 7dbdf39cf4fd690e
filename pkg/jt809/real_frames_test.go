package jt809

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// Frames and vectors published by independent public implementations. Each decodes to the
// values its source asserts; where the source also encodes, Corridor's encoder reproduces the
// exact bytes. Sources (repository @ path):
//
//	SC  SmallChi/JT809 (C#)            src/JT809.Protocol.Test/...
//	CH  ch0ice/jt809-tcp-server (Java) src/test/java/.../client/JT809TcpClientHandler.java,
//	                                   src/main/java/.../rest/DownLineRest.java
//	LAI lai323/jt809server (Go)        jt809/codec_test.go
//
// Every frame's CRC agrees with CRC-16/CCITT-FALSE and with no other CRC-16 variant, which is
// what pins the variant (TestCRCVariantPinned).

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var beijingT = time.FixedZone("CST", 8*3600)

// SC src/JT809.Protocol.Test/JT809Packages/JT809_0x1001PackageTest.cs Test1/Test2 (2011).
const scLogin = "5B000000480000008510010133EFB8010000000000270F0133EFB832303138303932303132372E302E302E31000000000000000000000000000000000000000000000003296A915D"

// SC src/JT809.Protocol.Test/JT809Packages/JT809_0x9400_0x9401PackageTest.cs Test2 (2011).
const scUrge = "5B000000920000068294000133EFB8010000000000270FD4C1413132333435000000000000000000000000000294010000005C010002000000005A01AC3F40123FFAA1000000005A01AC4D5003736D616C6C636869000000000000000031323334353637383930310000000000000000003132333435364071712E636F6D00000000000000000000000000000000000000BAD85D"

// CH src/main/java/cn/com/onlinetool/jt809/rest/DownLineRest.java: a 0x1005 link test (2011).
const chLinkTest = "5B0000001A0000257A10050001E24001000100000000001C525D"

// CH src/test/java/cn/com/onlinetool/jt809/client/JT809TcpClientHandler.java: a 0x1200
// frame (vehicle registration 0x1201) with an escaped MSG_SN byte and a GBK plate (2011).
const chExg = "5B0000007300005A01821200022551250100010000000000B8D3474330373232000000000000000000000000000212010000003D3335303130320000000000373035303400000000000000000000000000000000000000000000000000003F001B3C000000303634383336323338353038A76C5D"

// SC src/JT809.Protocol.Test/JT809MessageBody/GuoJian001Test.cs GuoJian001_2019_3: a 0x9301
// duty check from a national test platform (2019 header with TIME).
const guoJianDutyCheck = "5b0000005c00000006930000000000000000000000000000000000689eadf193010000003402b2e24230313834340000000000000000000000000a0000001900000016c6bdcca8b2e9b8dac7ebc7f3cac7b7f1cac7c8cbc0e017f05d"

func TestRealFrameLogin2011(t *testing.T) {
	c := Codec{Version: V2011}
	h, body, err := c.Decode(unhex(t, scLogin))
	if err != nil {
		t.Fatal(err)
	}
	if h.Length != 72 || h.SN != 133 || h.MsgID != MsgUpConnectReq || h.GNSSCenterID != 20180920 ||
		h.VersionFlag != [3]byte{1, 0, 0} || h.Encrypted || h.EncryptKey != 9999 {
		t.Fatalf("header %+v", h)
	}
	m, err := ParseUpConnectReq(V2011, body)
	if err != nil {
		t.Fatal(err)
	}
	want := UpConnectReq{UserID: 20180920, Password: "20180920", DownLinkIP: "127.0.0.1", DownLinkPort: 809}
	if m != want {
		t.Fatalf("body %+v, want %+v", m, want)
	}
	// Corridor's encoder produces SC's exact bytes.
	h.Length = 0
	out, err := c.Encode(h, m.Marshal(V2011))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, unhex(t, scLogin)) {
		t.Fatalf("encode:\n got %X\nwant %s", out, scLogin)
	}
}

func TestRealFrameUrgeTodo2011(t *testing.T) {
	c := Codec{Version: V2011}
	h, body, err := c.Decode(unhex(t, scUrge))
	if err != nil {
		t.Fatal(err)
	}
	if h.Length != 146 || h.SN != 1666 || h.MsgID != MsgDownWarn || h.GNSSCenterID != 20180920 {
		t.Fatalf("header %+v", h)
	}
	v, err := ParseBody(V2011, h.MsgID, body)
	if err != nil {
		t.Fatal(err)
	}
	bz := v.(Business)
	if bz.Wrapper.Plate != "粤A12345" || bz.Wrapper.Color != ColorYellow || bz.Wrapper.DataType != DataUrgeTodoReq || len(bz.Wrapper.Data) != 92 {
		t.Fatalf("wrapper %+v", bz.Wrapper)
	}
	u := bz.Data.(UrgeTodoReq)
	want := UrgeTodoReq{Src: 1, Type: WarnFatigue,
		WarnTime:      time.Date(2018, 9, 27, 10, 24, 0, 0, beijingT).UTC(),
		SupervisionID: 0x123FFAA1,
		EndTime:       time.Date(2018, 9, 27, 11, 24, 0, 0, beijingT).UTC(),
		Level:         3, Supervisor: "smallchi", SupervisorTel: "12345678901", SupervisorEmail: "123456@qq.com"}
	if u != want {
		t.Fatalf("0x9401 %+v\nwant %+v", u, want)
	}
	// Re-encoding the decoded values gives the published frame.
	bz.Wrapper.Data = u.Marshal(V2011)
	h.Length = 0
	out, err := c.Encode(h, bz.Wrapper.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, unhex(t, scUrge)) {
		t.Fatalf("encode:\n got %X\nwant %s", out, scUrge)
	}
}

func TestRealFrameLinkTestCH(t *testing.T) {
	c := Codec{Version: V2011}
	h, body, err := c.Decode(unhex(t, chLinkTest))
	if err != nil {
		t.Fatal(err)
	}
	if h.Length != 26 || h.SN != 0x257A || h.MsgID != MsgUpLinkTestReq || h.GNSSCenterID != 123456 || len(body) != 0 {
		t.Fatalf("header %+v body %X", h, body)
	}
	h.Length = 0
	out, _ := c.Encode(h, nil)
	if !bytes.Equal(out, unhex(t, chLinkTest)) {
		t.Fatalf("encode %X", out)
	}
}

func TestRealFrameExgCH(t *testing.T) {
	c := Codec{Version: V2011}
	frame := unhex(t, chExg)
	h, body, err := c.Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	if h.Length != 115 || h.SN != 0x5B82 || h.MsgID != MsgUpExg || h.GNSSCenterID != 0x02255125 {
		t.Fatalf("header %+v", h)
	}
	v, err := ParseBody(V2011, h.MsgID, body)
	if err != nil {
		t.Fatal(err)
	}
	wr := v.(Business).Wrapper
	if wr.Plate != "赣GC0722" || wr.Color != ColorYellow || wr.DataType != 0x1201 || len(wr.Data) != 61 {
		t.Fatalf("wrapper %+v", wr)
	}
	h.Length = 0
	out, _ := c.Encode(h, body)
	if !bytes.Equal(out, frame) {
		t.Fatalf("encode %X", out)
	}
}

func TestRealFrameDutyCheck2019(t *testing.T) {
	c := Codec{Version: V2019}
	h, body, err := c.Decode(unhex(t, guoJianDutyCheck))
	if err != nil {
		t.Fatal(err)
	}
	if h.Length != 92 || h.SN != 6 || h.MsgID != MsgDownPlatform || h.Time.Unix() != 0x689eadf1 {
		t.Fatalf("header %+v", h)
	}
	v, err := ParseBody(V2019, h.MsgID, body)
	if err != nil {
		t.Fatal(err)
	}
	q := v.(Business).Data.(PostQueryReq)
	want := PostQueryReq{ObjectType: 2, ObjectID: "测B01844", AnswerMin: 10, InfoID: 25, Content: "平台查岗请求是否是人类"}
	if q != want {
		t.Fatalf("0x9301 %+v\nwant %+v", q, want)
	}
}

// SC JT809EncryptTest.cs and LAI codec_test.go TestEncrypt publish the same vector.
func TestCipherVector(t *testing.T) {
	c := Cipher{M1: 30000000, IA1: 20000000, IC1: 20000000}
	data := []byte{1, 2, 3, 4, 5, 6, 7}
	c.Apply(256178, data)
	if want := []byte{0xD3, 0x4C, 0x70, 0x78, 0xA7, 0x3A, 0x41}; !bytes.Equal(data, want) {
		t.Fatalf("encrypt % X, want % X", data, want)
	}
	c.Apply(256178, data)
	if !bytes.Equal(data, []byte{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("decrypt % X", data)
	}
}

// LAI codec_test.go TestEscape.
func TestEscapeVectorLAI(t *testing.T) {
	escaped := unhex(t, "000000485A010000005A02703FE36E5E0180100000105E027D9CC4900C")
	plain := unhex(t, "000000485B0000005A703FE36E5D80100000105E7D9CC4900C")
	got, err := Unescape(escaped)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("unescape %X %v", got, err)
	}
	if got := appendEscaped(nil, plain); !bytes.Equal(got, escaped) {
		t.Fatalf("escape %X", got)
	}
}

// SC body vectors (JT809_0x1200_0x1202Test.cs, JT809_0x1400_0x1401Test.cs, JT809_0x1400_0x1402Test.cs).
func TestBodyVectorsSC(t *testing.T) {
	loc, err := ParseRealLocation(V2011, unhex(t, "00130707DC0F0F0F07EF4D80017018400032003300000096002D002D0000000300000101"))
	if err != nil {
		t.Fatal(err)
	}
	g := loc.GNSS
	if !g.Time.Equal(time.Date(2012, 7, 19, 15, 15, 15, 0, beijingT)) || g.Lon != 133.123456 || g.Lat != 24.123456 ||
		g.SpeedKmh != 50 || g.Speed2Kmh != 51 || g.MileageKm != 150 || g.Direction != 45 || g.AltitudeM != 45 || g.State != 3 || g.Alarm != 257 {
		t.Fatalf("0x1202 %+v", g)
	}
	if got := loc.Marshal(V2011); hex.EncodeToString(got) != strings.ToLower("00130707DC0F0F0F07EF4D80017018400032003300000096002D002D0000000300000101") {
		t.Fatalf("0x1202 encode %X", got)
	}
	ack, err := ParseUrgeTodoAck(V2011, unhex(t, "000026AA00"))
	if err != nil || ack.SupervisionID != 9898 || ack.Result != ResultProcessing {
		t.Fatalf("0x1401 %+v %v", ack, err)
	}
	wi, err := ParseWarnInfo(V2011, unhex(t, "00 00 12 00 00 00 00 5B AA 5B 80 00 00 0D 10 00 00 00 0A 67 66 64 66 34 35 34 35 35 33"))
	if err != nil {
		t.Fatal(err)
	}
	if wi.Type != 18 || wi.InfoID != 3344 || wi.Content != "gfdf454553" || !wi.Time.Equal(time.Date(2018, 9, 26, 0, 0, 0, 0, beijingT)) {
		t.Fatalf("0x1402 %+v", wi)
	}
}

// TestCRCVariantPinned: every published frame above checks with CCITT-FALSE and fails with the
// variants other implementations use (X-25 reflected with xorout, XMODEM init 0).
func TestCRCVariantPinned(t *testing.T) {
	xmodem := func(p []byte) uint16 {
		crc := uint16(0)
		for _, b := range p {
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
	x25 := func(p []byte) uint16 {
		crc := uint16(0xFFFF)
		for _, b := range p {
			crc ^= uint16(b)
			for range 8 {
				if crc&1 != 0 {
					crc = crc>>1 ^ 0x8408
				} else {
					crc >>= 1
				}
			}
		}
		return ^crc
	}
	if CRC16([]byte("123456789")) != 0x29B1 {
		t.Fatal("CCITT-FALSE check value")
	}
	for _, f := range []string{scLogin, scUrge, chLinkTest, chExg, guoJianDutyCheck} {
		b := unhex(t, f)
		raw, err := Unescape(b[1 : len(b)-1])
		if err != nil {
			t.Fatal(err)
		}
		data, crc := raw[:len(raw)-2], uint16(raw[len(raw)-2])<<8|uint16(raw[len(raw)-1])
		if CRC16(data) != crc {
			t.Errorf("%s…: CCITT-FALSE %04X, frame %04X", f[:20], CRC16(data), crc)
		}
		if xmodem(data) == crc || x25(data) == crc {
			t.Errorf("%s…: another variant also matches", f[:20])
		}
	}
}
