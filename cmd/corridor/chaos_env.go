package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/internal/pgcluster"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// newChaosCluster starts the run's throwaway PostgreSQL cluster in parent/pg, durable (fsync on)
// as in production; the machine's own cluster is never touched.
func newChaosCluster(parent string) (*pgcluster.Cluster, error) {
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		// initdb and the server run as postgres, which must reach parent/pg.
		if out, err := exec.Command("chown", "postgres:postgres", parent).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown %s: %v %s", parent, err, out)
		}
	}
	return pgcluster.New(filepath.Join(parent, "pg"), pgcluster.Options{Fsync: true, MaxConnections: 200})
}

// natsProc is an external nats-server process with JetStream on a fixed port and store.
type natsProc struct {
	bin, port, store, logPath string
	cmd                       *exec.Cmd
	done                      chan struct{}
}

func (n *natsProc) url() string { return "nats://127.0.0.1:" + n.port }

func (n *natsProc) start() error {
	lf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.cmd = exec.Command(n.bin, "-a", "127.0.0.1", "-p", n.port, "-js", "-sd", n.store)
	n.cmd.Stdout, n.cmd.Stderr = lf, lf
	if err := n.cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); lf.Close(); close(n.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if nc, err := nats.Connect(n.url(), nats.Timeout(time.Second)); err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start; see %s", n.bin, n.logPath)
}

// stop ends the server with SIGTERM (a clean shutdown), SIGKILL after 15 s.
func (n *natsProc) stop() {
	if n.cmd == nil || n.done == nil {
		return
	}
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// natsVersion asks a nats-server binary for its version.
func natsVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "?"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "nats-server: ")
}

// chaosLoad publishes a steady stream of fixes for vehicles 1..n, each fix retried until
// JetStream acknowledges it (same Nats-Msg-Id, so a retry is never a second message) before that
// vehicle's next one: every vehicle's sequence is complete and in order, whatever the faults.
//
// Vehicle fixes follow cycles of 8 (4 on the corridor, 4 about 550 m off it), 30 s apart in fix
// time: every cycle raises exactly one route_deviation (at its 3rd off fix, started at its 1st)
// and the next cycle's 2nd fix on the corridor clears it.
type chaosLoad struct {
	js    jetstream.JetStream
	n     int
	rate  int
	k0    int // the steady load's first fix per vehicle (after a backlog)
	t0    time.Time
	mu    sync.Mutex
	sent  []int // per vehicle (0-based): fixes acknowledged
	retry int
}

const chaosCycle = 8

// fix returns the k-th fix (0-based) of vehicle i (1-based).
func (l *chaosLoad) fix(i, k int) tracking.Position {
	lat := 29.8001
	if k%chaosCycle >= 4 {
		lat = 29.805
	}
	return tracking.Position{VehicleID: benchVehicleID(i), CarrierID: benchCarrier, TS: l.t0.Add(time.Duration(k) * 30 * time.Second),
		Lon: 107.0 + float64(k)*0.0003, Lat: lat}
}

// run publishes until ctx ends, with workers each owning every workers-th vehicle.
func (l *chaosLoad) run(ctx context.Context, workers int) {
	if l.sent == nil {
		l.sent = make([]int, l.n)
	}
	var wg sync.WaitGroup
	perWorker := float64(l.rate) / float64(workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			done := 0
			for k := l.k0; ctx.Err() == nil; k++ {
				for i := w + 1; i <= l.n && ctx.Err() == nil; i += workers {
					p := l.fix(i, k)
					for ctx.Err() == nil {
						pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
						_, err := l.js.PublishMsg(pctx, fixMsg(&p))
						cancel()
						if err == nil {
							break
						}
						l.mu.Lock()
						l.retry++
						l.mu.Unlock()
						time.Sleep(100 * time.Millisecond)
					}
					if ctx.Err() != nil {
						return // this fix may or may not be stored: it was never acknowledged
					}
					l.mu.Lock()
					l.sent[i-1] = k + 1
					l.mu.Unlock()
					done++
					// pace: done fixes should take done/perWorker seconds
					if ahead := time.Duration(float64(done)/perWorker*float64(time.Second)) - time.Since(start); ahead > 0 {
						time.Sleep(ahead)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// acked returns the number of acknowledged fixes per vehicle (copy) and in all.
func (l *chaosLoad) acked() ([]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for _, s := range l.sent {
		total += s
	}
	return append([]int(nil), l.sent...), total
}

// expectedDeviations returns the start times of the route_deviation alarms that k fixes of a
// vehicle raise (one per cycle whose 3rd off fix, index 6, was sent).
func (l *chaosLoad) expectedDeviations(k int) []time.Time {
	var out []time.Time
	for c := 0; c*chaosCycle+6 < k; c++ {
		out = append(out, l.t0.Add(time.Duration(c*chaosCycle+4)*30*time.Second))
	}
	return out
}
