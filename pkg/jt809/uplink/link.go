// Package uplink is Corridor's JT/T 809 link to the government supervision platform: the main
// link (Corridor dials, logs in with 0x1001, keeps alive with 0x1005, reconnects with
// exponential backoff), the slave link (the upper platform dials back, 0x9001 with the verify
// code of 0x1002), positions up (0x1202 and, for what the platform missed, 0x1203 back-fill,
// resumed from a durable stream cursor), alarms up (0x1402, handling results) and the
// regulator's requests down (0x9401 supervision, 0x9301 duty check).
package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt809"
)

// Config configures the link.
type Config struct {
	Addr         string // upper platform, host:port
	UserID       uint32
	Password     string
	AccessCode   uint32 // 2019 login body MSG_GNSSCENTERID
	GNSSCenterID uint32 // header MSG_GNSSCENTERID
	Version      jt809.Version
	Encrypt      bool
	Cipher       jt809.Cipher
	// DownAddr is where the slave link is accepted (host:port); the login sends its IP and port
	// (DownIP overrides the IP sent, e.g. behind NAT). Empty: no slave link.
	DownAddr string
	DownIP   string
	// KeepAlive is the 0x1005 interval (default 1 min); the link is dropped after 3 intervals
	// without any frame from the platform.
	KeepAlive time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay (default 1 s and 60 s).
	BackoffMin, BackoffMax time.Duration
	// Timeout bounds dialling, the login answer and each write (default 10 s).
	Timeout time.Duration
	Log     *slog.Logger
}

func (c *Config) defaults() {
	if c.KeepAlive <= 0 {
		c.KeepAlive = time.Minute
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if !c.Version.Valid() {
		c.Version = jt809.V2011
	}
}

// ErrDown is returned by Send while neither link is up.
var ErrDown = errors.New("jt809 uplink: no link to the upper platform is up")

// Handler receives the business requests of the upper platform (0x9300/0x9400 families).
type Handler interface {
	HandleDown(ctx context.Context, h jt809.Header, b jt809.Business)
}

// Link is the pair of connections to the upper platform.
type Link struct {
	cfg     Config
	codec   jt809.Codec
	handler Handler
	sn      atomic.Uint32

	mu         sync.Mutex
	main       *conn
	slave      *conn
	verify     uint32
	mainSince  time.Time // when the main link went up or down
	slaveSince time.Time
	lastLogin  uint8
	upCh       chan struct{}  // closed when a link comes up; replaced when all are down
	sessions   sync.WaitGroup // slave-link sessions

	Stats Stats
}

// Stats are counters for /metrics.
type Stats struct {
	Logins, LoginFailures, Reconnects, FramesSent, FramesReceived, BadFrames, SendErrors atomic.Uint64
}

// conn is one TCP connection with serialized writes.
type conn struct {
	c  net.Conn
	wm sync.Mutex
}

// New returns a link; Run starts it. handler may be nil until SetHandler.
func New(cfg Config, handler Handler) *Link {
	cfg.defaults()
	l := &Link{cfg: cfg, handler: handler, upCh: make(chan struct{}), mainSince: time.Now(), slaveSince: time.Now()}
	l.codec = jt809.Codec{Version: cfg.Version}
	if cfg.Encrypt {
		c := cfg.Cipher
		l.codec.Cipher = &c
	}
	return l
}

// SetHandler sets the receiver of down requests (before Run).
func (l *Link) SetHandler(h Handler) { l.handler = h }

// Version is the configured protocol version.
func (l *Link) Version() jt809.Version { return l.cfg.Version }

// State reports whether each link is up and since when it has been in that state.
func (l *Link) State() (mainUp bool, mainSince time.Time, slaveUp bool, slaveSince time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.main != nil, l.mainSince, l.slave != nil, l.slaveSince
}

// LastLoginResult is the RESULT of the last 0x1002 (0 success; see jt809.LoginResultText).
func (l *Link) LastLoginResult() uint8 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastLogin
}

// Up returns a channel closed once some link is up (already closed if one is).
func (l *Link) Up() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.upCh
}

// Ready is nil while the main link is up, else "uplink: down since ...".
func (l *Link) Ready() error {
	up, since, _, _ := l.State()
	if up {
		return nil
	}
	return fmt.Errorf("uplink: down since %s", since.UTC().Format(time.RFC3339))
}

// NextSN returns the next MSG_SN of this platform.
func (l *Link) NextSN() uint32 { return l.sn.Add(1) - 1 }

// Send encodes body as message msgID and writes it on the main link, or on the slave link
// while the main one is down (STD11 §4.1 e). It returns the frame's MSG_SN once the frame was
// written to the socket, ErrDown when no link is up, or the write error (the link is dropped).
func (l *Link) Send(msgID uint16, body []byte) (uint32, error) {
	l.mu.Lock()
	c, isMain := l.main, true
	if c == nil {
		c, isMain = l.slave, false
	}
	l.mu.Unlock()
	if c == nil {
		return 0, ErrDown
	}
	sn := l.NextSN()
	if err := l.write(c, sn, msgID, body); err != nil {
		l.Stats.SendErrors.Add(1)
		l.drop(c, isMain, err)
		return 0, err
	}
	return sn, nil
}

func (l *Link) write(c *conn, sn uint32, msgID uint16, body []byte) error {
	h := jt809.Header{SN: sn, MsgID: msgID, GNSSCenterID: l.cfg.GNSSCenterID, VersionFlag: [3]byte{1, 2, 15},
		Encrypted: l.cfg.Encrypt, Time: time.Now()}
	if l.cfg.Encrypt {
		h.EncryptKey = rand.Uint32()
	}
	frame, err := l.codec.Encode(h, body)
	if err != nil {
		return err
	}
	c.wm.Lock()
	defer c.wm.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(l.cfg.Timeout))
	if _, err := c.c.Write(frame); err != nil {
		return err
	}
	l.Stats.FramesSent.Add(1)
	return nil
}

// drop closes c and marks its link down.
func (l *Link) drop(c *conn, isMain bool, why error) {
	_ = c.c.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case isMain && l.main == c:
		l.main = nil
		l.mainSince = time.Now()
		l.cfg.Log.Warn("JT/T 809 main link down", "err", why)
	case !isMain && l.slave == c:
		l.slave = nil
		l.slaveSince = time.Now()
		l.cfg.Log.Warn("JT/T 809 slave link down", "err", why)
	default:
		return
	}
	if l.main == nil && l.slave == nil {
		select {
		case <-l.upCh:
			l.upCh = make(chan struct{})
		default:
		}
	}
}

func (l *Link) setUp(c *conn, isMain bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if isMain {
		if l.main != nil {
			_ = l.main.c.Close()
		}
		l.main, l.mainSince = c, time.Now()
	} else {
		if l.slave != nil {
			_ = l.slave.c.Close()
		}
		l.slave, l.slaveSince = c, time.Now()
	}
	select {
	case <-l.upCh:
	default:
		close(l.upCh)
	}
}

// Run keeps the main link up (and accepts the slave link on ln when not nil) until ctx ends.
func (l *Link) Run(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	if ln != nil {
		wg.Add(1)
		go func() { defer wg.Done(); l.acceptSlave(ctx, ln) }()
		context.AfterFunc(ctx, func() { ln.Close() })
	}
	backoff := l.cfg.BackoffMin
	for ctx.Err() == nil {
		start := time.Now()
		err := l.session(ctx, ln)
		if ctx.Err() != nil {
			break
		}
		if time.Since(start) > 2*l.cfg.KeepAlive {
			backoff = l.cfg.BackoffMin // the session lasted: start again from the shortest delay
		}
		l.Stats.Reconnects.Add(1)
		d := backoff/2 + rand.N(backoff/2+1)
		l.cfg.Log.Warn("JT/T 809 main link: reconnecting", "err", err, "in", d.Round(time.Millisecond).String())
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		backoff = min(backoff*2, l.cfg.BackoffMax)
	}
	l.mu.Lock()
	for _, c := range []*conn{l.main, l.slave} {
		if c != nil {
			_ = c.c.Close()
		}
	}
	l.mu.Unlock()
	wg.Wait()
	l.sessions.Wait()
	return nil
}

// session dials, logs in and serves the main link until it fails.
func (l *Link) session(ctx context.Context, ln net.Listener) error {
	d := net.Dialer{Timeout: l.cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", l.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", l.cfg.Addr, err)
	}
	c := &conn{c: nc}
	loggedIn := atomic.Bool{}
	stop := context.AfterFunc(ctx, func() {
		if loggedIn.Load() { // a clean stop logs out (0x1003), best effort
			_ = l.write(c, l.NextSN(), jt809.MsgUpDisconnectReq, jt809.UpDisconnectReq{UserID: l.cfg.UserID, Password: l.cfg.Password}.Marshal())
		}
		nc.Close()
	})
	defer stop()
	defer nc.Close()

	ip, port := l.downEndpoint(ln, nc)
	req := jt809.UpConnectReq{UserID: l.cfg.UserID, Password: l.cfg.Password, GNSSCenterID: l.cfg.AccessCode,
		DownLinkIP: ip, DownLinkPort: port}
	if err := l.write(c, l.NextSN(), jt809.MsgUpConnectReq, req.Marshal(l.cfg.Version)); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	fr := jt809.NewFrameReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(l.cfg.Timeout))
	for {
		h, body, err := l.read(fr)
		if err != nil {
			return fmt.Errorf("waiting for the login answer: %w", err)
		}
		if h.MsgID != jt809.MsgUpConnectRsp {
			continue
		}
		rsp, err := jt809.ParseUpConnectRsp(body)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.lastLogin = rsp.Result
		l.mu.Unlock()
		if rsp.Result != jt809.LoginOK {
			l.Stats.LoginFailures.Add(1)
			l.cfg.Log.Error("JT/T 809 login refused by the upper platform", "result", rsp.Result,
				"reason", jt809.LoginResultText(rsp.Result), "user_id", l.cfg.UserID, "addr", l.cfg.Addr)
			return fmt.Errorf("login refused: %s", jt809.LoginResultText(rsp.Result))
		}
		l.Stats.Logins.Add(1)
		l.mu.Lock()
		l.verify = rsp.VerifyCode
		l.mu.Unlock()
		l.cfg.Log.Info("JT/T 809 main link up: logged in", "addr", l.cfg.Addr, "user_id", l.cfg.UserID,
			"down_link", net.JoinHostPort(ip, strconv.Itoa(int(port))))
		break
	}
	l.setUp(c, true)
	loggedIn.Store(true)
	err = l.serve(ctx, c, fr, true)
	l.drop(c, true, err)
	return err
}

// downEndpoint is the IP and port sent in the login for the slave link.
func (l *Link) downEndpoint(ln net.Listener, main net.Conn) (string, uint16) {
	if ln == nil {
		return "", 0
	}
	host, ps, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(ps)
	switch {
	case l.cfg.DownIP != "":
		host = l.cfg.DownIP
	case host == "" || net.ParseIP(host).IsUnspecified():
		host, _, _ = net.SplitHostPort(main.LocalAddr().String())
	}
	return host, uint16(port)
}

func (l *Link) read(fr *jt809.FrameReader) (jt809.Header, []byte, error) {
	for {
		f, err := fr.Next()
		if err != nil {
			return jt809.Header{}, nil, err
		}
		h, body, err := l.codec.Decode(f)
		if err != nil {
			l.Stats.BadFrames.Add(1)
			l.cfg.Log.Warn("JT/T 809: undecodable frame from the upper platform", "err", err, "bytes", len(f))
			continue
		}
		l.Stats.FramesReceived.Add(1)
		return h, body, nil
	}
}

// serve reads frames until the connection fails, answering link tests and handing business
// requests to the handler; the main link sends 0x1005 every KeepAlive.
func (l *Link) serve(ctx context.Context, c *conn, fr *jt809.FrameReader, isMain bool) error {
	done := make(chan struct{})
	defer close(done)
	if isMain {
		go func() {
			t := time.NewTicker(l.cfg.KeepAlive)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if err := l.write(c, l.NextSN(), jt809.MsgUpLinkTestReq, nil); err != nil {
						_ = c.c.Close()
						return
					}
				}
			}
		}()
	}
	for {
		_ = c.c.SetReadDeadline(time.Now().Add(3*l.cfg.KeepAlive + l.cfg.Timeout))
		h, body, err := l.read(fr)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("closed by the upper platform")
			}
			return err
		}
		switch h.MsgID {
		case jt809.MsgUpLinkTestRsp, jt809.MsgUpDisconnectRsp, jt809.MsgDownConnectRsp:
		case jt809.MsgDownLinkTestReq:
			_ = l.write(c, l.NextSN(), jt809.MsgDownLinkTestRsp, nil)
		case jt809.MsgUpLinkTestReq: // some platforms test the main link from their side
			_ = l.write(c, l.NextSN(), jt809.MsgUpLinkTestRsp, nil)
		case jt809.MsgDownDisconnectReq:
			_ = l.write(c, l.NextSN(), jt809.MsgDownDisconnectRsp, nil)
			return errors.New("upper platform closed the slave link (0x9003)")
		case jt809.MsgDownPlatform, jt809.MsgDownWarn:
			v, err := jt809.ParseBody(l.cfg.Version, h.MsgID, body)
			if err != nil {
				l.Stats.BadFrames.Add(1)
				l.cfg.Log.Warn("JT/T 809: bad request body", "msg_id", fmt.Sprintf("0x%04X", h.MsgID), "err", err)
				continue
			}
			if l.handler != nil {
				l.handler.HandleDown(ctx, h, v.(jt809.Business))
			}
		default:
			l.cfg.Log.Debug("JT/T 809: message ignored", "msg_id", fmt.Sprintf("0x%04X", h.MsgID))
		}
	}
}

// acceptSlave accepts the upper platform's slave-link connections.
func (l *Link) acceptSlave(ctx context.Context, ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.cfg.Log.Error("JT/T 809 slave link: accept failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		l.sessions.Add(1)
		go func() { defer l.sessions.Done(); l.slaveSession(ctx, nc) }()
	}
}

func (l *Link) slaveSession(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	c := &conn{c: nc}
	fr := jt809.NewFrameReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(l.cfg.Timeout))
	h, body, err := l.read(fr)
	if err != nil {
		return
	}
	if h.MsgID != jt809.MsgDownConnectReq {
		l.cfg.Log.Warn("JT/T 809 slave link: first message is not 0x9001", "msg_id", fmt.Sprintf("0x%04X", h.MsgID), "remote", nc.RemoteAddr().String())
		return
	}
	req, err := jt809.ParseDownConnectReq(body)
	// The platform may dial back before this side has read its 0x1002: wait for the login.
	var want uint32
	loggedIn := false
	for deadline := time.Now().Add(l.cfg.Timeout); ; {
		l.mu.Lock()
		want, loggedIn = l.verify, l.main != nil
		l.mu.Unlock()
		if loggedIn || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	result := uint8(jt809.DownConnectOK)
	if err != nil || !loggedIn || req.VerifyCode != want {
		result = jt809.DownConnectBadCode
	}
	if err := l.write(c, l.NextSN(), jt809.MsgDownConnectRsp, jt809.DownConnectRsp{Result: result}.Marshal()); err != nil || result != jt809.DownConnectOK {
		l.cfg.Log.Warn("JT/T 809 slave link refused: wrong verify code", "remote", nc.RemoteAddr().String())
		return
	}
	l.cfg.Log.Info("JT/T 809 slave link up", "remote", nc.RemoteAddr().String())
	l.setUp(c, false)
	err = l.serve(ctx, c, fr, false)
	l.drop(c, false, err)
}
