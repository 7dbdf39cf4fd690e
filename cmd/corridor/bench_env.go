package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// This file holds what `corridor bench e2e` and `corridor chaos` share: a throwaway database,
// engine processes (`corridor serve` children), their /readyz and /metrics, and publishing
// pre-encoded fixes with acknowledgements.

// progress prints a timestamped progress line.
type progress struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex
}

func (p *progress) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] "+format+"\n", append([]any{time.Since(p.start).Seconds()}, a...)...)
}

// benchDB is a database made for one run: created fresh (and dropped by drop) unless named.
type benchDB struct {
	url, name, admin string
	created          bool
	pool             *pgxpool.Pool
}

// openBenchDB creates database name (a fresh random one when empty) on the server of serverURL,
// with PostGIS and Corridor's migrations, and connects to it.
func openBenchDB(ctx context.Context, serverURL, name, prefix string) (*benchDB, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %v", err)
	}
	admin := *u
	admin.Path = "/postgres"
	b := &benchDB{admin: admin.String()}
	conn, err := pgx.Connect(ctx, b.admin)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %v", u.Host, err)
	}
	defer conn.Close(ctx)
	if name == "" {
		var r [5]byte
		_, _ = rand.Read(r[:])
		name = prefix + hex.EncodeToString(r[:])
	}
	b.name = name
	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select 1 from pg_database where datname = $1)", name).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()); err != nil {
			return nil, fmt.Errorf("create database %s: %v", name, err)
		}
		b.created = true
	}
	du := *u
	du.Path = "/" + name
	b.url = du.String()
	if b.pool, err = pgxpool.New(ctx, b.url); err != nil {
		b.drop()
		return nil, err
	}
	if _, err := b.pool.Exec(ctx, "create extension if not exists postgis"); err != nil {
		b.drop()
		return nil, fmt.Errorf("PostGIS in %s: %v", name, err)
	}
	db, err := postgres.Open(ctx, b.url, nil)
	if err == nil {
		err = db.Migrate(ctx)
		db.Close()
	}
	if err != nil {
		b.drop()
		return nil, fmt.Errorf("migrate %s: %v", name, err)
	}
	return b, nil
}

// drop closes the pool and drops the database when this run created it.
func (b *benchDB) drop() {
	if b.pool != nil {
		b.pool.Close()
	}
	if !b.created {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, b.admin); err == nil {
		_, _ = conn.Exec(ctx, "drop database if exists "+pgx.Identifier{b.name}.Sanitize()+" with (force)")
		conn.Close(ctx)
	}
}

// count runs a count query.
func (b *benchDB) count(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := b.pool.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}

// natsEnv is the NATS server of a run: embedded in this process unless url is given.
type natsEnv struct {
	url  string
	stop func()
}

func startBenchNATS(natsURL, dir string) (*natsEnv, error) {
	if natsURL != "" {
		return &natsEnv{url: natsURL, stop: func() {}}, nil
	}
	ns, err := natsbus.StartEmbedded("127.0.0.1:0", filepath.Join(dir, "nats"), nil)
	if err != nil {
		return nil, err
	}
	return &natsEnv{url: ns.ClientURL(), stop: func() { ns.Shutdown(); ns.WaitForShutdown() }}, nil
}

// child is a `corridor serve` process.
type child struct {
	cmd     *exec.Cmd
	httpURL string
	logPath string
	done    chan struct{}
}

// childSpec says how to start engine processes.
type childSpec struct {
	bin string
	env []string // KEY=VALUE on top of the process environment (DATABASE_URL, NATS_URL, ...)
	dir string   // logs and data directories go here
}

// freePort returns a free TCP address on 127.0.0.1.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs `corridor serve` with the spec's environment and extra, logging to a file.
func (s childSpec) start(name string, extra ...string) (*child, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(s.dir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Env = append(cmd.Env, "CORRIDOR_HTTP_ADDR="+addr, "CORRIDOR_JT808_ADDR=off", "CORRIDOR_LOG_FORMAT=text",
		"CORRIDOR_DATA_DIR="+filepath.Join(s.dir, name+"-data"))
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	c := &child{cmd: cmd, httpURL: "http://" + addr, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); lf.Close(); close(c.done) }()
	return c, nil
}

// waitReady polls /readyz until 200, the process exits or timeout passes.
func (c *child) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c.ready(ctx) {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("engine process exited (%v); see %s", c.cmd.ProcessState, c.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("engine not ready after %s; see %s", timeout, c.logPath)
}

// ready reports whether /readyz answers 200.
func (c *child) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.httpURL+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// metrics reads named unlabelled metrics from /metrics.
func (c *child) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.httpURL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return metricValues(resp.Body, names...)
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// kill sends SIGKILL and waits.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// connectJS connects to NATS with a large async-publish window.
func connectJS(natsURL, name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(natsURL, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// publishAll publishes msgs asynchronously and waits for every acknowledgement; it returns how
// many were acknowledged and the first error. onAck, when set, is called with each acked index.
func publishAll(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg, onAck func(i int)) (int, error) {
	type fut struct {
		i int
		f jetstream.PubAckFuture
	}
	futs := make(chan fut, 8192)
	var acked int
	var firstErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range futs {
			select {
			case <-f.f.Ok():
				acked++
				if onAck != nil {
					onAck(f.i)
				}
			case err := <-f.f.Err():
				if firstErr == nil {
					firstErr = err
				}
			case <-ctx.Done():
				if firstErr == nil {
					firstErr = ctx.Err()
				}
			}
		}
	}()
	for i, m := range msgs {
		if ctx.Err() != nil {
			break
		}
		f, err := js.PublishMsgAsync(m, jetstream.WithStallWait(5*time.Second))
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) && ctx.Err() == nil {
			f, err = js.PublishMsgAsync(m, jetstream.WithStallWait(5*time.Second)) // the server is slow, not gone
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			break
		}
		futs <- fut{i, f}
	}
	close(futs)
	<-done
	return acked, firstErr
}

// telemetryPending sums what the consumers of TELEMETRY have not yet delivered or not yet had
// acknowledged (any consumer names, so that partitioned engines count too).
func telemetryPending(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	s, err := js.Stream(ctx, natsbus.StreamTelemetry)
	if err != nil {
		return 0, err
	}
	var total uint64
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		total += ci.NumPending + uint64(ci.NumAckPending)
	}
	if err := l.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return 0, err
	}
	return total, nil
}

// toolSetup is what the bench and chaos commands share before they start: the corridor binary
// they run as child processes (this executable when bin is empty) and a scratch directory that
// cleanup removes.
func toolSetup(bin, prefix string) (string, string, func(), error) {
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return "", "", nil, err
		}
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", nil, err
	}
	return bin, dir, func() { os.RemoveAll(dir) }, nil
}
