package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/httpapi"
)

// limitedServer serves e's handler with small server limits.
func limitedServer(t *testing.T, h http.Handler, l httpapi.ServerLimits) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config = httpapi.NewHTTPServer(h, l, nil)
	srv.Listener = httpapi.LimitListener(srv.Listener, l.MaxConns)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// closedWithin reports whether the server closes conn within d (reading whatever it sends).
func closedWithin(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

// The server bounds slow clients: a header never finished, a body never finished and an idle
// keep-alive connection are closed; connections beyond the cap wait; the SSE stream is exempt
// from the read and write timeouts.
func TestServerLimits(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) { d.Heartbeat = 100 * time.Millisecond })
	l := httpapi.ServerLimits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, IdleTimeout: 500 * time.Millisecond, MaxHeaderBytes: 8 << 10, MaxConns: 3}
	addr := limitedServer(t, e.handler, l)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	slowHeader := dial()
	_, _ = io.WriteString(slowHeader, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	if !closedWithin(slowHeader, 3*time.Second) {
		t.Fatal("a request header never finished kept its connection")
	}
	slowBody := dial()
	_, _ = io.WriteString(slowBody, "POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+adminToken+
		"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{")
	if !closedWithin(slowBody, 3*time.Second) {
		t.Fatal("a body never finished kept its connection")
	}
	idle := dial()
	_, _ = io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	if !closedWithin(idle, 3*time.Second) {
		t.Fatal("an idle keep-alive connection was kept")
	}

	// The stream outlives the read and write timeouts.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/stream?topics=alarms", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	sresp, err := http.DefaultClient.Do(req)
	if err != nil || sresp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", sresp, err)
	}
	defer sresp.Body.Close()
	br := bufio.NewReader(sresp.Body)
	start := time.Now()
	for time.Since(start) < 1500*time.Millisecond {
		// heartbeats keep arriving past ReadTimeout and WriteTimeout
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("stream ended after %v: %v", time.Since(start), err)
		}
	}

	// MaxConns 3: the stream holds one; two idle connections fill the cap; a fourth waits until
	// one closes.
	hold1, _ := dial(), dial()
	got := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		_, err = http.ReadResponse(bufio.NewReader(c), nil)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a connection beyond the cap was served at once (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	hold1.Close()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not served after a slot freed")
	}
}

// Per-token and per-address rate limits answer 429 with Retry-After, per key: another key is
// not affected. And every answer carries the security headers.
func TestRateLimitsAndSecurityHeaders(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) { d.RateLimit, d.RateLimitPerAddr = 5, 1000 })
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		r := e.do("GET", "/v1/carriers", roleDispatcher, nil)
		if r.StatusCode == http.StatusTooManyRequests {
			limited = true
			if r.Header.Get("Retry-After") == "" || r.problem(t).Type != "urn:corridor:problem:rate-limited" {
				t.Fatalf("429 without Retry-After or type: %v %s", r.Header, r.body)
			}
		}
	}
	if !limited {
		t.Fatal("20 requests in a burst with a limit of 5/s were all served")
	}
	wantStatus(t, e.do("GET", "/v1/carriers", roleSafety, nil), http.StatusOK)

	e2 := e.variant(func(d *httpapi.Deps) { d.RateLimit, d.RateLimitPerAddr = 1000, 5 })
	limited = false
	for i := 0; i < 20 && !limited; i++ {
		limited = e2.do("GET", "/healthz", roleNone, nil).StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("the per-address limit did not apply")
	}

	// Every answer carries the security headers, the screen's CSP included.
	for _, path := range []string{"/", "/healthz", "/v1/vehicles", "/nope"} {
		r := e.do("GET", path, roleAdmin, nil)
		h := r.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") ||
			!strings.Contains(h.Get("Content-Security-Policy"), "worker-src 'self' blob:") {
			t.Errorf("GET %s: headers %v", path, h)
		}
	}
}
