package uplink_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/logbuf"
	"github.com/corridor-dev/corridor/pkg/jt809"
	"github.com/corridor-dev/corridor/pkg/jt809/jt809test"
	"github.com/corridor-dev/corridor/pkg/jt809/uplink"
)

func startLink(t *testing.T, p *jt809test.Platform, v jt809.Version, cipher *jt809.Cipher, log *slog.Logger) *uplink.Link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := uplink.Config{Addr: p.Addr(), UserID: 7001, Password: "secret", AccessCode: 12, GNSSCenterID: 12,
		Version: v, KeepAlive: 50 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Log: log}
	if cipher != nil {
		cfg.Encrypt, cfg.Cipher = true, *cipher
	}
	l := uplink.New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func TestLinkLoginKeepAliveSlave(t *testing.T) {
	for _, v := range []jt809.Version{jt809.V2011, jt809.V2019} {
		t.Run(strconv.Itoa(int(v)), func(t *testing.T) {
			cipher := &jt809.Cipher{M1: 30000000, IA1: 20000000, IC1: 20000000}
			p := jt809test.Start(t, v, cipher)
			l := startLink(t, p, v, cipher, nil)
			p.WaitFor("login", func() bool { return p.Logins() == 1 })
			p.WaitFor("slave link", p.SlaveUp)
			p.WaitFor("keep-alives", func() bool { return p.Count(jt809.MsgUpLinkTestReq) >= 3 })
			req := p.Frames()[0].Body.(jt809.UpConnectReq)
			if req.UserID != 7001 || req.Password != "secret" || req.DownLinkIP != "127.0.0.1" || req.DownLinkPort == 0 {
				t.Fatalf("login %+v", req)
			}
			if v == jt809.V2019 && req.GNSSCenterID != 12 {
				t.Fatalf("2019 login without the centre id: %+v", req)
			}
			if !p.Frames()[0].Header.Encrypted {
				t.Fatal("login not encrypted")
			}
			p.LinkTest()
			p.WaitFor("0x9006", func() bool { return p.Count(jt809.MsgDownLinkTestRsp) == 1 })
			if err := l.Ready(); err != nil {
				t.Fatal(err)
			}
			// The main link drops: Send goes over the slave link meanwhile, and the link comes back.
			p.SetRefuse(true)
			p.DropLinks()
			p.WaitFor("main link down", func() bool { up, _, _, _ := l.State(); return !up })
			if err := l.Ready(); err == nil || !strings.Contains(err.Error(), "uplink: down since") {
				t.Fatalf("ready while down: %v", err)
			}
			p.SetRefuse(false)
			p.WaitFor("re-login", func() bool { return p.Logins() == 2 })
			p.WaitFor("ready", func() bool { return l.Ready() == nil })
		})
	}
}

func TestLinkLoginRefusedIsLoggedAndRetried(t *testing.T) {
	var logs logbuf.Buffer
	p := jt809test.Start(t, jt809.V2011, nil)
	p.SetLogin(jt809.LoginBadPassword, 0)
	l := startLink(t, p, jt809.V2011, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	p.WaitFor("two refused logins", func() bool { return p.Count(jt809.MsgUpConnectReq) >= 2 })
	if !strings.Contains(logs.String(), "password incorrect") {
		t.Fatalf("log does not name the result:\n%s", logs.String())
	}
	if _, err := l.Send(jt809.MsgUpExg, []byte{1}); err != uplink.ErrDown {
		t.Fatalf("send while down: %v", err)
	}
	p.SetLogin(jt809.LoginOK, 99)
	p.WaitFor("login", func() bool { return p.Logins() == 1 })
	p.WaitFor("slave link", p.SlaveUp)
}

func TestLinkLogsOutOnStop(t *testing.T) {
	p := jt809test.Start(t, jt809.V2011, nil)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	l := uplink.New(uplink.Config{Addr: p.Addr(), UserID: 3, Password: "x", KeepAlive: time.Second}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx, ln); close(done) }()
	p.WaitFor("login", func() bool { return p.Logins() == 1 })
	cancel()
	<-done
	p.WaitFor("0x1003", func() bool { return p.Count(jt809.MsgUpDisconnectReq) == 1 })
}

func TestSlaveLinkWrongVerifyCode(t *testing.T) {
	p := jt809test.Start(t, jt809.V2011, nil)
	p.SetAutoSlave(false)
	startLink(t, p, jt809.V2011, nil, nil)
	p.WaitFor("login", func() bool { return p.Logins() == 1 })
	p.OpenSlave(12345)
	p.WaitFor("0x9002", func() bool { return p.SlaveResult() == jt809.DownConnectBadCode })
}
