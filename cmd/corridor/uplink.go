package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/pkg/jt809"
	"github.com/corridor-dev/corridor/pkg/jt809/uplink"
)

// uplinkConfig is the JT/T 809 uplink's configuration (role uplink, CORRIDOR_JT809_*).
type uplinkConfig struct {
	Link         uplink.Config
	HistoryAfter time.Duration
	BackfillRate float64
	PlatformID   string
}

// loadUplinkConfig reads CORRIDOR_JT809_*; the required ones are checked only when the role runs.
func loadUplinkConfig(getenv func(string) string, on bool) (uplinkConfig, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var errs []error
	u32 := func(k string, required bool) uint32 {
		v := env(k)
		if v == "" {
			if required {
				errs = append(errs, fmt.Errorf("%s: required with the uplink role", k))
			}
			return 0
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a number in [0, 4294967295]", k, v))
		}
		return uint32(n)
	}
	dur := func(k string, def time.Duration) time.Duration {
		v := env(k)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration such as 1m", k, v))
			return def
		}
		return d
	}
	var c uplinkConfig
	if !on {
		return c, nil
	}
	l := &c.Link
	l.Addr = env("CORRIDOR_JT809_ADDR")
	if l.Addr == "" {
		errs = append(errs, errors.New("CORRIDOR_JT809_ADDR: required with the uplink role (the upper platform's host:port)"))
	} else if _, _, err := net.SplitHostPort(l.Addr); err != nil {
		errs = append(errs, fmt.Errorf("CORRIDOR_JT809_ADDR: %q is not host:port (%v)", l.Addr, err))
	}
	l.UserID = u32("CORRIDOR_JT809_USER_ID", true)
	l.Password = getenv("CORRIDOR_JT809_PASSWORD")
	if len(l.Password) > 8 {
		errs = append(errs, errors.New("CORRIDOR_JT809_PASSWORD: at most 8 bytes (the field is 8 bytes)"))
	}
	l.GNSSCenterID = u32("CORRIDOR_JT809_GNSS_CENTER_ID", true)
	l.AccessCode = l.GNSSCenterID
	if env("CORRIDOR_JT809_ACCESS_CODE") != "" {
		l.AccessCode = u32("CORRIDOR_JT809_ACCESS_CODE", false)
	}
	switch v := env("CORRIDOR_JT809_VERSION"); v {
	case "", "2011":
		l.Version = jt809.V2011
	case "2019":
		l.Version = jt809.V2019
	default:
		errs = append(errs, fmt.Errorf("CORRIDOR_JT809_VERSION: %q is not 2011 or 2019", v))
	}
	switch v := strings.ToLower(env("CORRIDOR_JT809_ENCRYPT")); v {
	case "", "false", "0", "no":
	case "true", "1", "yes":
		l.Encrypt = true
		l.Cipher = jt809.Cipher{M1: u32("CORRIDOR_JT809_M1", true), IA1: u32("CORRIDOR_JT809_IA1", true), IC1: u32("CORRIDOR_JT809_IC1", true)}
	default:
		errs = append(errs, fmt.Errorf("CORRIDOR_JT809_ENCRYPT: %q is not true or false", v))
	}
	l.DownAddr = env("CORRIDOR_JT809_DOWN_ADDR")
	if l.DownAddr != "" {
		if _, _, err := net.SplitHostPort(l.DownAddr); err != nil {
			errs = append(errs, fmt.Errorf("CORRIDOR_JT809_DOWN_ADDR: %q is not host:port (%v)", l.DownAddr, err))
		}
	}
	l.DownIP = env("CORRIDOR_JT809_DOWN_IP")
	if l.DownIP != "" && net.ParseIP(l.DownIP) == nil {
		errs = append(errs, fmt.Errorf("CORRIDOR_JT809_DOWN_IP: %q is not an IP address", l.DownIP))
	}
	l.KeepAlive = dur("CORRIDOR_JT809_KEEPALIVE", time.Minute)
	c.HistoryAfter = dur("CORRIDOR_JT809_HISTORY_AFTER", 2*time.Minute)
	c.BackfillRate = 20
	if v := env("CORRIDOR_JT809_BACKFILL_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			errs = append(errs, fmt.Errorf("CORRIDOR_JT809_BACKFILL_RATE: %q is not a positive number of frames per second", v))
		} else {
			c.BackfillRate = f
		}
	}
	c.PlatformID = env("CORRIDOR_JT809_PLATFORM_ID")
	if len(c.PlatformID) > 11 {
		errs = append(errs, errors.New("CORRIDOR_JT809_PLATFORM_ID: at most 11 characters"))
	}
	return c, errors.Join(errs...)
}

// startUplink runs the JT/T 809 link and forwarder (role uplink).
func (a *app) startUplink(goRun func(string, func() error)) error {
	c := a.cfg.Uplink
	var ln net.Listener
	if c.Link.DownAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", c.Link.DownAddr); err != nil {
			return fmt.Errorf("JT/T 809 slave link cannot listen on %s: %v", c.Link.DownAddr, err)
		}
	} else {
		a.log.Warn("JT/T 809: CORRIDOR_JT809_DOWN_ADDR is empty: no slave link; the upper platform's requests come on the main link only")
	}
	lc := c.Link
	lc.Log = a.log.With("role", "uplink")
	a.uplink = uplink.New(lc, nil)
	fwd := uplink.NewForwarder(a.uplink, a.bus.JS, a.db, a.bus, uplink.ForwarderConfig{HistoryAfter: c.HistoryAfter,
		BackfillRate: c.BackfillRate, PlatformID: c.PlatformID, Log: lc.Log})
	a.reg.MustRegister(newUplinkCollector(a.uplink, fwd))
	goRun("uplink link", func() error { return a.uplink.Run(a.runCtx, ln) })
	goRun("uplink forwarder", func() error { return fwd.Run(a.runCtx) })
	a.log.Info("JT/T 809 uplink started", "upper_platform", c.Link.Addr, "version", int(c.Link.Version), "down_addr", c.Link.DownAddr)
	return nil
}

// uplinkCollector exposes the link state and the forwarding counters on /metrics.
type uplinkCollector struct {
	l     *uplink.Link
	f     *uplink.Forwarder
	descs map[string]*prometheus.Desc
}

func newUplinkCollector(l *uplink.Link, f *uplink.Forwarder) *uplinkCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("corridor_jt809_"+name, help, nil, nil)
	}
	return &uplinkCollector{l: l, f: f, descs: map[string]*prometheus.Desc{
		"main_up":         d("main_link_up", "1 while the main link to the upper platform is logged in."),
		"slave_up":        d("slave_link_up", "1 while the upper platform's slave link is up."),
		"main_since":      d("main_link_state_since_seconds", "Unix time of the main link's last change (up or down)."),
		"login_result":    d("last_login_result", "RESULT of the last 0x1002 (0 ok, 1 IP, 2 access code, 3 unregistered, 4 password, 5 busy, 6/255 other)."),
		"logins":          d("logins_total", "Successful 0x1001 logins."),
		"login_failures":  d("login_failures_total", "Logins refused by the upper platform (the log names the result)."),
		"reconnects":      d("reconnects_total", "Main link reconnect attempts."),
		"frames_sent":     d("frames_sent_total", "Frames written to the upper platform."),
		"frames_received": d("frames_received_total", "Frames received from the upper platform."),
		"bad_frames":      d("bad_frames_total", "Undecodable frames or bodies from the upper platform."),
		"realtime":        d("positions_realtime_total", "Positions sent as 0x1202."),
		"backfill":        d("positions_backfill_total", "Positions sent as 0x1203 back-fill."),
		"skipped":         d("positions_skipped_total", "TELEMETRY messages not forwarded (no active trip, unknown vehicle, invalid)."),
		"lag":             d("telemetry_lag_messages", "TELEMETRY messages not yet forwarded at the last read."),
		"alarms":          d("alarm_reports_total", "0x1402 alarm reports sent."),
		"results":         d("handling_results_total", "Handling results sent (0x1403 / 0x1412)."),
		"supervisions":    d("supervisions_total", "0x9401 supervision requests received."),
		"duty_checks":     d("duty_checks_total", "0x9301 duty checks received."),
		"escalations":     d("escalations_total", "Alarms escalated because a supervision deadline approached."),
	}}
}

func (c *uplinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *uplinkCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(k string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.GaugeValue, v)
	}
	counter := func(k string, v uint64) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, float64(v))
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	mainUp, since, slaveUp, _ := c.l.State()
	gauge("main_up", b(mainUp))
	gauge("slave_up", b(slaveUp))
	gauge("main_since", float64(since.Unix()))
	gauge("login_result", float64(c.l.LastLoginResult()))
	ls, fs := &c.l.Stats, &c.f.Stats
	counter("logins", ls.Logins.Load())
	counter("login_failures", ls.LoginFailures.Load())
	counter("reconnects", ls.Reconnects.Load())
	counter("frames_sent", ls.FramesSent.Load())
	counter("frames_received", ls.FramesReceived.Load())
	counter("bad_frames", ls.BadFrames.Load())
	counter("realtime", fs.RealTime.Load())
	counter("backfill", fs.BackFill.Load())
	counter("skipped", fs.Skipped.Load())
	gauge("lag", float64(fs.Lag.Load()))
	counter("alarms", fs.Alarms.Load())
	counter("results", fs.Results.Load())
	counter("supervisions", fs.Supervisions.Load())
	counter("duty_checks", fs.DutyChecks.Load())
	counter("escalations", fs.Escalations.Load())
}
