package jt809

import "fmt"

// Results of 0x1002 UP_CONNECT_RSP.
const (
	LoginOK           = 0
	LoginBadIP        = 1
	LoginBadAccess    = 2
	LoginUnregistered = 3
	LoginBadPassword  = 4
	LoginBusy         = 5
	LoginOther        = 6
	LoginOther2019    = 0xFF
)

// LoginResultText names a 0x1002 result for logs.
func LoginResultText(res uint8) string {
	switch res {
	case LoginOK:
		return "success"
	case LoginBadIP:
		return "IP address incorrect"
	case LoginBadAccess:
		return "access code incorrect"
	case LoginUnregistered:
		return "user not registered"
	case LoginBadPassword:
		return "password incorrect"
	case LoginBusy:
		return "resources busy, try later"
	case LoginOther, LoginOther2019:
		return "other error"
	}
	return fmt.Sprintf("unknown result %d", res)
}

// Results of 0x9002 DOWN_CONNECT_RSP.
const (
	DownConnectOK      = 0
	DownConnectBadCode = 1
	DownConnectBusy    = 2
	DownConnectOther   = 3
)

// UpConnectReq is 0x1001, the main-link login (2019 adds the GNSS centre id to the body).
type UpConnectReq struct {
	UserID       uint32
	Password     string // 8 bytes
	GNSSCenterID uint32 // 2019 only
	DownLinkIP   string // 32 bytes
	DownLinkPort uint16
}

// Marshal encodes the body for version v.
func (m UpConnectReq) Marshal(v Version) []byte {
	var w w
	w.u32(m.UserID)
	w.octet(m.Password, 8)
	if v == V2019 {
		w.u32(m.GNSSCenterID)
	}
	w.octet(m.DownLinkIP, 32)
	w.u16(m.DownLinkPort)
	return w.b
}

// ParseUpConnectReq decodes a 0x1001 body.
func ParseUpConnectReq(v Version, b []byte) (UpConnectReq, error) {
	r := r{b: b}
	var m UpConnectReq
	m.UserID = r.u32("USERID")
	m.Password = r.octet(8, "PASSWORD")
	if v == V2019 {
		m.GNSSCenterID = r.u32("MSG_GNSSCENTERID")
	}
	m.DownLinkIP = r.octet(32, "DOWN_LINK_IP")
	m.DownLinkPort = r.u16("DOWN_LINK_PORT")
	return m, r.done("0x1001")
}

// UpConnectRsp is 0x1002.
type UpConnectRsp struct {
	Result     uint8
	VerifyCode uint32
}

// Marshal encodes the body.
func (m UpConnectRsp) Marshal() []byte {
	var w w
	w.u8(m.Result)
	w.u32(m.VerifyCode)
	return w.b
}

// ParseUpConnectRsp decodes a 0x1002 body.
func ParseUpConnectRsp(b []byte) (UpConnectRsp, error) {
	r := r{b: b}
	m := UpConnectRsp{Result: r.u8("RESULT"), VerifyCode: r.u32("VERIFY_CODE")}
	return m, r.done("0x1002")
}

// UpDisconnectReq is 0x1003.
type UpDisconnectReq struct {
	UserID   uint32
	Password string
}

// Marshal encodes the body.
func (m UpDisconnectReq) Marshal() []byte {
	var w w
	w.u32(m.UserID)
	w.octet(m.Password, 8)
	return w.b
}

// ParseUpDisconnectReq decodes a 0x1003 body.
func ParseUpDisconnectReq(b []byte) (UpDisconnectReq, error) {
	r := r{b: b}
	m := UpDisconnectReq{UserID: r.u32("USERID"), Password: r.octet(8, "PASSWORD")}
	return m, r.done("0x1003")
}

// DownConnectReq is 0x9001: the upper platform opens the slave link with the verify code of 0x1002.
type DownConnectReq struct {
	VerifyCode uint32
}

// Marshal encodes the body.
func (m DownConnectReq) Marshal() []byte {
	var w w
	w.u32(m.VerifyCode)
	return w.b
}

// ParseDownConnectReq decodes a 0x9001 body.
func ParseDownConnectReq(b []byte) (DownConnectReq, error) {
	r := r{b: b}
	m := DownConnectReq{VerifyCode: r.u32("VERIFY_CODE")}
	return m, r.done("0x9001")
}

// DownConnectRsp is 0x9002.
type DownConnectRsp struct {
	Result uint8
}

// Marshal encodes the body.
func (m DownConnectRsp) Marshal() []byte { return []byte{m.Result} }

// ParseDownConnectRsp decodes a 0x9002 body.
func ParseDownConnectRsp(b []byte) (DownConnectRsp, error) {
	r := r{b: b}
	m := DownConnectRsp{Result: r.u8("RESULT")}
	return m, r.done("0x9002")
}
