package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"
	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the request metrics, labelled by chi route pattern (not raw path).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corridor_http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corridor_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route pattern (SSE streams: their whole life).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	return m
}

// register registers c, or returns the collector already registered under the same name (so that
// several servers may share one registry, as tests do).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Errorf("httpapi: register metrics: %w", err))
	}
	return c
}

type logInfoKey struct{}

// logInfo collects what the request log line reports that handlers learn on the way.
type logInfo struct {
	principal string
}

// statusWriter records the status code and size of a response. It keeps http.ResponseController
// working (Flush, SetWriteDeadline) through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush flushes the underlying writer when it can.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs one line per request and records its metrics. The query string is not logged: it
// may hold an access token.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		info := &logInfo{}
		r = r.WithContext(context.WithValue(r.Context(), logInfoKey{}, info))
		next.ServeHTTP(sw, r)
		elapsed := time.Since(start)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(r.Method, route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(r.Method, route).Observe(elapsed.Seconds())
		s.Log.LogAttrs(r.Context(), levelFor(status), "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
			slog.Int("status", status), slog.Int64("bytes", sw.bytes), slog.Duration("duration", elapsed),
			slog.String("principal", info.principal), slog.String("remote", r.RemoteAddr))
	})
}

// recoverer answers 500 for a handler that panics, and logs the panic.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				problem(w, http.StatusInternalServerError, problemInternal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// ContentSecurityPolicy is sent with every answer: fit for the monitoring screen served from the
// same origin (MapLibre draws with WebGL, uses blob: workers and data:/blob: images, inline
// styles), and nothing loaded from elsewhere.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; child-src 'self' blob:; " +
	"style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; font-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// securityHeaders sets the headers every answer carries.
func (s *server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// RequestTimeout bounds the work of one request (not the stream): a database that stops
// answering without closing its connections makes the request 503, not a hang.
const RequestTimeout = 30 * time.Second

// deadline gives every request but the stream a context deadline of RequestTimeout.
func (s *server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/stream" {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// rateLimited answers 429 with Retry-After.
func rateLimited(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	problem(w, http.StatusTooManyRequests, problemRateLimited, "too many requests; slow down and retry after the Retry-After seconds")
}

// limitByAddr limits requests per client address (IPv6 by /64), before authentication.
func (s *server) limitByAddr() func(http.Handler) http.Handler {
	if s.RateLimitPerAddr < 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return httprate.LimitBy(s.RateLimitPerAddr, time.Second, func(r *http.Request) (string, error) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return httprate.CanonicalizeIP(host), nil
	}, httprate.WithLimitHandler(rateLimited))
}

// limitByKey limits requests per API key (after authentication).
func (s *server) limitByKey() func(http.Handler) http.Handler {
	if s.RateLimit < 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return httprate.LimitBy(s.RateLimit, time.Second, func(r *http.Request) (string, error) {
		return "key:" + principal(r).KeyID, nil
	}, httprate.WithLimitHandler(rateLimited))
}
