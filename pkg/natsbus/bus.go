// Package natsbus is Corridor's NATS adapter: the embedded JetStream server, the TELEMETRY, ALARMS
// and DEADLETTER streams, publishing with acknowledgements, the engine's durable consumer, the
// dead-letter channel and the core-NATS live state subjects.
package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Stream names and subjects (CONTRACT §2).
const (
	StreamTelemetry  = "TELEMETRY"
	StreamAlarms     = "ALARMS"
	StreamDeadLetter = "DEADLETTER"

	SubjectDeadLetterTelemetry = "deadletter.telemetry"
	// EngineConsumer prefixes the engine partitions' durable consumers (engine-<N>-<k>); the engine
	// from before partitions used it alone.
	EngineConsumer = "engine"
)

// StartEmbedded runs a NATS server with JetStream in this process, listening on addr
// (host:port) and storing under storeDir. A taken port is a clear error.
func StartEmbedded(addr, storeDir string, log *slog.Logger) (*server.Server, error) {
	return StartEmbeddedAuth(addr, storeDir, "", DefaultSync, log)
}

// DefaultSync is how often the embedded server syncs JetStream's files to disk by default
// (CORRIDOR_NATS_SYNC): what a power cut can lose is at most what was acknowledged in the last
// interval and not yet committed by the engine. A process crash loses nothing either way: the
// data is in the operating system's page cache.
const DefaultSync = 100 * time.Millisecond

// SyncAlways makes the embedded server sync to disk before it acknowledges each message.
const SyncAlways time.Duration = -1

// ParseSync reads CORRIDOR_NATS_SYNC: "always" or a duration (e.g. 100ms, 1s).
func ParseSync(v string) (time.Duration, error) {
	if strings.EqualFold(v, "always") {
		return SyncAlways, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not \"always\" or a positive duration such as 100ms", v)
	}
	return d, nil
}

// StartEmbeddedAuth is StartEmbedded for a server that requires token from every client when
// token is not empty (serve generates one when the server listens beyond loopback), syncing its
// files every sync (SyncAlways: before every acknowledgement).
func StartEmbeddedAuth(addr, storeDir, token string, sync time.Duration, log *slog.Logger) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("CORRIDOR_EMBEDDED_NATS_ADDR %q: %v", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("CORRIDOR_EMBEDDED_NATS_ADDR %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT // ":0" means any free port, as with net.Listen
	} else {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS cannot listen on %s (port taken? set NATS_URL to use that server): %v", addr, err)
		}
		ln.Close()
	}
	opts := &server.Options{
		ServerName:    "corridor-embedded",
		Host:          host,
		Port:          port,
		JetStream:     true,
		StoreDir:      storeDir,
		NoSigs:        true,
		NoLog:         true,
		Authorization: token,
		SyncInterval:  sync,
		SyncAlways:    sync == SyncAlways,
	}
	if sync <= 0 {
		opts.SyncInterval = DefaultSync
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s did not become ready", addr)
	}
	if log != nil {
		syncs := opts.SyncInterval.String()
		if opts.SyncAlways {
			syncs = "always"
		}
		log.Info("embedded NATS started", "url", ns.ClientURL(), "store", storeDir, "auth", token != "", "sync", syncs)
	}
	return ns, nil
}

// IsLoopback reports whether a listen address (host:port) accepts only local connections.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Bus is a connection with JetStream.
type Bus struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	log *slog.Logger
	// PublishTimeout bounds PublishPositions when its context has no earlier deadline, so that a
	// caller never waits forever while NATS is away. Connect sets 30 s (generous for big batches
	// on a loaded machine); the HTTP API bounds its own pushes tighter (503 within seconds).
	PublishTimeout time.Duration
}

// Connect dials url and checks that JetStream answers. opts add to Corridor's defaults, e.g.
// credentials from Auth.Options. The URL is logged and reported with its password redacted.
func Connect(ctx context.Context, url, name string, log *slog.Logger, opts ...nats.Option) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	all := append([]nats.Option{nats.Name(name), nats.Timeout(5 * time.Second),
		nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrlRedacted()) })}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		return nil, fmt.Errorf("NATS unreachable at %s: %v", RedactURL(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS JetStream: %v", err)
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS at %s has no JetStream: %v", RedactURL(url), err)
	}
	return &Bus{NC: nc, JS: js, log: log, PublishTimeout: 30 * time.Second}, nil
}

// Close drains the connection.
func (b *Bus) Close() {
	if b.NC != nil {
		_ = b.NC.Drain()
		for i := 0; i < 50 && !b.NC.IsClosed(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		b.NC.Close()
	}
}

// Ready reports whether the connection is up.
func (b *Bus) Ready(ctx context.Context) error {
	if !b.NC.IsConnected() {
		return errors.New("NATS not connected")
	}
	return nil
}

// EnsureStreams creates or updates the three streams (idempotent).
func (b *Bus) EnsureStreams(ctx context.Context) error {
	cfgs := []jetstream.StreamConfig{
		{Name: StreamTelemetry, Subjects: []string{"telemetry.>"}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: 8 * 24 * time.Hour, Duplicates: 2 * time.Minute,
			Description: "positions from gateways, carriers and POST /v1/telemetry"},
		{Name: StreamAlarms, Subjects: []string{"alarms.>"}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: 90 * 24 * time.Hour, Duplicates: 10 * time.Minute,
			Description: "alarm changes published by the engine"},
		{Name: StreamDeadLetter, Subjects: []string{"deadletter.>"}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: 30 * 24 * time.Hour,
			Description: "inputs that could not be used, with the reason"},
	}
	// NATS ≥ 2.10 stores each position with its vehicle's bucket as a 4th token (engine
	// partitions); an older server stores telemetry.<carrier>.<vehicle> as published.
	if SupportsTransforms(b.NC.ConnectedServerVersion()) {
		tr := TelemetryTransform
		cfgs[0].SubjectTransform = &tr
	}
	for _, c := range cfgs {
		_, err := b.JS.CreateOrUpdateStream(ctx, c)
		if errors.Is(err, jetstream.ErrStreamSubjectTransformNotSupported) {
			c.SubjectTransform = nil
			_, err = b.JS.CreateOrUpdateStream(ctx, c)
		}
		if err != nil {
			return fmt.Errorf("stream %s: %v", c.Name, err)
		}
	}
	return nil
}

// PublishPositions stores every position in TELEMETRY and returns once JetStream acknowledged
// them all (de-duplicated by Nats-Msg-Id <vehicle_id>:<ts ns>). It implements the publisher the
// HTTP push handler and the JT/T 808 gateway need. It gives up after PublishTimeout with
// EUNAVAILABLE, and refuses with ETOOLARGE (before publishing any) when a message would exceed
// the server's max payload.
func (b *Bus) PublishPositions(ctx context.Context, ps []tracking.Position) error {
	if b.PublishTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.PublishTimeout)
		defer cancel()
	}
	msgs := make([]*nats.Msg, len(ps))
	maxPayload := b.NC.MaxPayload()
	for i := range ps {
		data, err := json.Marshal(&ps[i])
		if err != nil {
			return err
		}
		m := &nats.Msg{Subject: ps[i].Subject(), Data: data,
			Header: nats.Header{jetstream.MsgIDHeader: []string{ps[i].MsgID()}}}
		if maxPayload > 0 && int64(len(data)+len(m.Subject)+len(jetstream.MsgIDHeader)+len(ps[i].MsgID())+64) > maxPayload {
			return tracking.Errorf(tracking.ETOOLARGE, "position %d is %d bytes as stored, more than the %d bytes NATS accepts in one message",
				i, len(data), maxPayload)
		}
		msgs[i] = m
	}
	if len(msgs) == 1 {
		_, err := b.JS.PublishMsg(ctx, msgs[0])
		return publishError(err)
	}
	// When too many publishes are outstanding (several big batches at once), wait for room as
	// long as the context allows rather than the client's default 200 ms.
	stall := 200 * time.Millisecond
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > stall {
		stall = time.Until(dl)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(ps))
	for _, m := range msgs {
		f, err := b.JS.PublishMsgAsync(m, jetstream.WithStallWait(stall))
		if err != nil {
			return publishError(err)
		}
		futures = append(futures, f)
	}
	return publishError(awaitAcks(ctx, futures))
}

// awaitAcks waits until JetStream acknowledged every publish, or the first failure.
func awaitAcks(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// PublishAlarmEvent stores one alarm event in ALARMS; msgID de-duplicates republishing.
func (b *Bus) PublishAlarmEvent(ctx context.Context, subject, msgID string, payload []byte) error {
	_, err := b.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: payload,
		Header: nats.Header{jetstream.MsgIDHeader: []string{msgID}}})
	return err
}

// PublishLive publishes a vehicle's state on live.<carrier>.<vehicle> (core NATS, not stored).
func (b *Bus) PublishLive(s *tracking.VehicleState) error {
	bp := liveBufs.Get().(*[]byte)
	defer liveBufs.Put(bp)
	data, err := s.AppendJSON((*bp)[:0])
	if err != nil {
		return err
	}
	*bp = data
	return b.NC.Publish("live."+s.CarrierID+"."+s.VehicleID, data) // copied into the connection's buffer
}

// liveBufs are PublishLive's encoding buffers.
var liveBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// SubscribeLive calls fn for every live state and alarm event (core NATS subscriptions on live.>
// and alarms.>), for the API's live view and stream. Undecodable messages are logged and skipped.
func (b *Bus) SubscribeLive(onState func(tracking.VehicleState), onAlarm func(tracking.AlarmEvent)) (func(), error) {
	s1, err := b.NC.Subscribe("live.>", func(m *nats.Msg) {
		var s tracking.VehicleState
		if err := json.Unmarshal(m.Data, &s); err != nil {
			b.log.Warn("bad live state", "subject", m.Subject, "err", err)
			return
		}
		onState(s)
	})
	if err != nil {
		return nil, err
	}
	s2, err := b.NC.Subscribe("alarms.>", func(m *nats.Msg) {
		var e tracking.AlarmEvent
		if err := json.Unmarshal(m.Data, &e); err != nil {
			b.log.Warn("bad alarm event", "subject", m.Subject, "err", err)
			return
		}
		onAlarm(e)
	})
	if err != nil {
		_ = s1.Unsubscribe()
		return nil, err
	}
	_ = b.NC.Flush()
	return func() { _ = s1.Unsubscribe(); _ = s2.Unsubscribe() }, nil
}
