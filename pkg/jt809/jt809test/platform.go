// Package jt809test is test support for JT/T 809: a simulated upper (government) platform that
// speaks the protocol over real TCP on both links. It accepts the main link, answers 0x1001 with
// a configurable result and verify code, answers 0x1005, dials the slave link back to the
// address in the login (0x9001), records every frame it receives, and sends requests (0x9401,
// 0x9301, ...) on either link. It is for tests only.
package jt809test

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt809"
)

// Timeout bounds every wait of the helpers.
const Timeout = 15 * time.Second

// Frame is one frame received by the platform.
type Frame struct {
	Link   string // "main" or "slave"
	Header jt809.Header
	Body   any // jt809.ParseBody's result (nil for empty bodies)
	Err    error
	At     time.Time
}

// Platform is a simulated upper platform.
type Platform struct {
	Codec jt809.Codec

	t  testing.TB
	ln net.Listener

	mu         sync.Mutex
	frames     []Frame
	loginRes   uint8
	verify     uint32
	refuse     bool
	autoSlave  bool
	main       net.Conn
	slave      net.Conn
	sn         uint32
	slaveRes   int // result of the last 0x9002, -1 none
	logins     int
	downTarget string
}

// Start listens on 127.0.0.1:0 for the main link. The platform closes with the test.
func Start(t testing.TB, v jt809.Version, cipher *jt809.Cipher) *Platform {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Platform{Codec: jt809.Codec{Version: v, Cipher: cipher}, t: t, ln: ln, verify: 0x5A5E5B5D,
		autoSlave: true, slaveRes: -1}
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the main-link address.
func (p *Platform) Addr() string { return p.ln.Addr().String() }

// Close stops listening and closes both links.
func (p *Platform) Close() {
	p.ln.Close()
	p.DropLinks()
}

// SetLogin sets the 0x1002 result and verify code for the next logins.
func (p *Platform) SetLogin(result uint8, verify uint32) {
	p.mu.Lock()
	p.loginRes, p.verify = result, verify
	p.mu.Unlock()
}

// SetAutoSlave says whether the platform opens the slave link after a successful login.
func (p *Platform) SetAutoSlave(on bool) {
	p.mu.Lock()
	p.autoSlave = on
	p.mu.Unlock()
}

// SetRefuse makes the platform close every new connection at once (an outage) while on.
func (p *Platform) SetRefuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// DropLinks closes the current main and slave connections.
func (p *Platform) DropLinks() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range []net.Conn{p.main, p.slave} {
		if c != nil {
			c.Close()
		}
	}
	p.main, p.slave = nil, nil
}

// Logins is how many 0x1001 the platform accepted.
func (p *Platform) Logins() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins
}

// SlaveResult is the result of the last 0x9002 (-1 before any).
func (p *Platform) SlaveResult() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.slaveRes
}

// DownTarget is the slave-link address sent in the last login.
func (p *Platform) DownTarget() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.downTarget
}

// Frames returns a copy of every frame received so far, in arrival order.
func (p *Platform) Frames() []Frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Frame(nil), p.frames...)
}

// Business returns the received business messages with the given DATA_TYPE, in order.
func (p *Platform) Business(dataType uint16) []jt809.Business {
	var out []jt809.Business
	for _, f := range p.Frames() {
		if b, ok := f.Body.(jt809.Business); ok && b.Wrapper.DataType == dataType {
			out = append(out, b)
		}
	}
	return out
}

// Count returns how many frames with message id msgID arrived.
func (p *Platform) Count(msgID uint16) int {
	n := 0
	for _, f := range p.Frames() {
		if f.Header.MsgID == msgID {
			n++
		}
	}
	return n
}

// WaitFor polls cond until it holds, failing the test after Timeout.
func (p *Platform) WaitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Send sends a message on the slave link when it is up, else on the main link, and returns its
// MSG_SN. It fails the test when neither is up.
func (p *Platform) Send(msgID uint16, body []byte) uint32 {
	p.t.Helper()
	p.mu.Lock()
	c := p.slave
	if c == nil {
		c = p.main
	}
	p.sn++
	sn := p.sn
	p.mu.Unlock()
	if c == nil {
		p.t.Fatal("jt809test: no link up to send on")
	}
	if err := p.write(c, sn, msgID, body); err != nil {
		p.t.Fatalf("jt809test: send: %v", err)
	}
	return sn
}

func (p *Platform) write(c net.Conn, sn uint32, msgID uint16, body []byte) error {
	frame, err := p.Codec.Encode(jt809.Header{SN: sn, MsgID: msgID, VersionFlag: [3]byte{1, 2, 15},
		Encrypted: p.Codec.Cipher != nil, EncryptKey: sn * 7919, Time: time.Now()}, body)
	if err != nil {
		return err
	}
	_ = c.SetWriteDeadline(time.Now().Add(Timeout))
	_, err = c.Write(frame)
	return err
}

func (p *Platform) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		go p.serve(c, "main")
	}
}

func (p *Platform) record(f Frame) {
	p.mu.Lock()
	p.frames = append(p.frames, f)
	p.mu.Unlock()
}

func (p *Platform) serve(c net.Conn, link string) {
	defer c.Close()
	fr := jt809.NewFrameReader(c)
	for {
		raw, err := fr.Next()
		if err != nil {
			return
		}
		h, body, err := p.Codec.Decode(raw)
		f := Frame{Link: link, Header: h, Err: err, At: time.Now()}
		if err == nil {
			f.Body, f.Err = jt809.ParseBody(p.Codec.Version, h.MsgID, body)
		}
		p.record(f)
		if err != nil {
			continue
		}
		switch h.MsgID {
		case jt809.MsgUpConnectReq:
			p.login(c, f)
		case jt809.MsgUpLinkTestReq:
			_ = p.write(c, p.nextSN(), jt809.MsgUpLinkTestRsp, nil)
		case jt809.MsgUpDisconnectReq:
			_ = p.write(c, p.nextSN(), jt809.MsgUpDisconnectRsp, nil)
			return
		case jt809.MsgDownConnectRsp:
			if r, ok := f.Body.(jt809.DownConnectRsp); ok {
				p.mu.Lock()
				p.slaveRes = int(r.Result)
				p.mu.Unlock()
			}
		}
	}
}

func (p *Platform) nextSN() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sn++
	return p.sn
}

func (p *Platform) login(c net.Conn, f Frame) {
	req, _ := f.Body.(jt809.UpConnectReq)
	p.mu.Lock()
	res, verify, auto := p.loginRes, p.verify, p.autoSlave
	if res == jt809.LoginOK {
		p.logins++
		p.main = c
		p.downTarget = net.JoinHostPort(req.DownLinkIP, strconv.Itoa(int(req.DownLinkPort)))
	}
	p.mu.Unlock()
	_ = p.write(c, p.nextSN(), jt809.MsgUpConnectRsp, jt809.UpConnectRsp{Result: res, VerifyCode: verify}.Marshal())
	if res != jt809.LoginOK {
		c.Close()
		return
	}
	if auto && req.DownLinkPort != 0 {
		go p.OpenSlave(verify)
	}
}

// OpenSlave dials the slave link to the address of the last login and sends 0x9001 with code.
func (p *Platform) OpenSlave(code uint32) {
	target := p.DownTarget()
	c, err := net.DialTimeout("tcp", target, Timeout)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.slave != nil {
		p.slave.Close()
	}
	p.slave = c
	p.mu.Unlock()
	_ = p.write(c, p.nextSN(), jt809.MsgDownConnectReq, jt809.DownConnectReq{VerifyCode: code}.Marshal())
	go p.serve(c, "slave")
}

// SlaveUp reports whether the slave connection is open and accepted.
func (p *Platform) SlaveUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.slave != nil && p.slaveRes == jt809.DownConnectOK
}

// LinkTest sends 0x9005 on the slave link.
func (p *Platform) LinkTest() {
	p.t.Helper()
	p.mu.Lock()
	c := p.slave
	p.mu.Unlock()
	if c == nil {
		p.t.Fatal("jt809test: slave link not up")
	}
	if err := p.write(c, p.nextSN(), jt809.MsgDownLinkTestReq, nil); err != nil {
		p.t.Fatal(err)
	}
}
