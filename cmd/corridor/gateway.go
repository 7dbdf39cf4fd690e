package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808/gateway"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// startGateway runs the JT/T 808 gateway role: the TCP server, its metrics, and a watcher that
// makes sessions re-resolve their vehicle when vehicles change (LISTEN corridor_changes).
func (a *app) startGateway(runCtx context.Context, goRun func(string, func() error)) error {
	var err error
	if a.gwLn, err = net.Listen("tcp", a.cfg.JT808Addr); err != nil {
		return fmt.Errorf("JT/T 808 gateway cannot listen on %s: %v", a.cfg.JT808Addr, err)
	}
	log := a.log.With("role", "gateway")
	a.gw = gateway.New(gateway.Config{Addr: a.cfg.JT808Addr, TimeOffset: a.cfg.JT808TimeOffset,
		Rejections: gatewayRejections{a.bus}, Log: log}, a.db, a.bus)
	a.reg.MustRegister(newGatewayCollector(a.gw))
	goRun("gateway", func() error { return a.gw.Serve(runCtx, a.gwLn) })
	goRun("gateway vehicle watch", func() error { watchVehicles(runCtx, a.db, a.gw); return nil })
	log.Info("JT/T 808 gateway listening", "addr", a.gwLn.Addr().String(), "time_offset", a.cfg.JT808TimeOffset.String())
	return nil
}

// watchVehicles re-resolves the gateway's sessions when vehicles change: those of each changed
// vehicle (the notification names it), and all of them after each (re)connection of the
// listener, which may have missed changes. At most every 200 ms.
func watchVehicles(ctx context.Context, db *postgres.DB, gw *gateway.Server) {
	var mu sync.Mutex
	all, changed := false, map[string]bool{}
	kick := make(chan struct{}, 1)
	wake := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	go db.Listen(ctx, []string{"corridor_changes"}, func(context.Context) {
		mu.Lock()
		all = true
		mu.Unlock()
		wake()
	}, func(_, payload string) {
		var n struct {
			Table string `json:"table"`
			ID    string `json:"id"`
			All   bool   `json:"all"` // a statement changed more rows than a notification names
		}
		if json.Unmarshal([]byte(payload), &n) != nil || n.Table != "vehicles" {
			return
		}
		mu.Lock()
		if n.All || n.ID == "" {
			all = true
		} else {
			changed[n.ID] = true
		}
		mu.Unlock()
		wake()
	})
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		mu.Lock()
		doAll, ids := all, make([]string, 0, len(changed))
		for id := range changed {
			ids = append(ids, id)
		}
		all, changed = false, map[string]bool{}
		mu.Unlock()
		if doAll {
			gw.Revalidate(ctx)
		} else {
			gw.RevalidateVehicles(ctx, ids)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// gatewayRejections records the gateway's refused fixes as dead letters (CONTRACT §2), like
// every other refused input, so that the rejections consumer counts them for their vehicle.
type gatewayRejections struct{ bus *natsbus.Bus }

func (g gatewayRejections) RecordRejections(ctx context.Context, rs []gateway.Rejection) error {
	dls := make([]natsbus.DeadLetter, 0, len(rs))
	for _, r := range rs {
		payload, err := json.Marshal(&r.Position)
		if err != nil {
			return err
		}
		d := natsbus.NewDeadLetter(r.Reason, "jt808 gateway: "+r.Detail, r.Position.Subject(), payload)
		d.MsgID = "jt808:" + r.Position.MsgID()
		dls = append(dls, d)
	}
	return g.bus.PublishDeadLetters(ctx, dls)
}

// recordRejections is the rejections consumer's handler: dead letters whose subject names a
// carrier and vehicle (telemetry.<carrier>.<vehicle>) are added to that vehicle's record.
func recordRejections(db *postgres.DB) func(context.Context, []natsbus.StoredDeadLetter) error {
	return func(ctx context.Context, dls []natsbus.StoredDeadLetter) error {
		rs := make([]postgres.Rejection, 0, len(dls))
		for _, d := range dls {
			parts := strings.Split(d.Subject, ".")
			if len(parts) != 3 || parts[0] != "telemetry" || d.Reason == "" {
				continue
			}
			rs = append(rs, postgres.Rejection{CarrierID: parts[1], VehicleID: parts[2], Reason: d.Reason,
				Detail: d.Detail, At: d.StoredAt})
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return db.RecordRejections(cctx, rs)
	}
}
