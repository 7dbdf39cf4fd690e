package httpapi

import (
	"context"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// ServerLimits bound what one client can hold of the HTTP server. The SSE stream is exempt from
// the read and write timeouts (it extends its own deadlines per write).
type ServerLimits struct {
	ReadHeaderTimeout time.Duration // whole request header
	ReadTimeout       time.Duration // whole request, body included
	WriteTimeout      time.Duration // the answer (not the stream)
	IdleTimeout       time.Duration // a keep-alive connection between requests
	MaxHeaderBytes    int
	MaxConns          int // open connections; more wait in the kernel's accept queue
}

// DefaultServerLimits are the limits of `corridor serve` (CORRIDOR_HTTP_MAX_CONNS sets MaxConns).
func DefaultServerLimits() ServerLimits {
	return ServerLimits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, MaxConns: 10_000}
}

// NewHTTPServer returns an http.Server for h with the limits applied; base is the context of
// every request (nil: background).
func NewHTTPServer(h http.Handler, l ServerLimits, base context.Context) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes}
	if base != nil {
		srv.BaseContext = func(net.Listener) context.Context { return base }
	}
	return srv
}

// Listen listens on addr and accepts at most maxConns connections at a time (0: no cap).
func Listen(addr string, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return LimitListener(ln, maxConns), nil
}

// LimitListener caps the connections open at a time on ln (0: no cap).
func LimitListener(ln net.Listener, maxConns int) net.Listener {
	if maxConns <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, maxConns)
}
