package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst events at once, then one per Every.
type Limit struct {
	Every time.Duration
	Burst int
}

// Limits are the gateway's rate limits; zero fields take DefaultLimits' values.
type Limits struct {
	// AttemptsPerIP bounds registration and authentication attempts from one source address.
	AttemptsPerIP Limit
	// AttemptsPerTerminal bounds registration and authentication attempts for one terminal id.
	AttemptsPerTerminal Limit
	// LogPerIP bounds the log lines about what one source address does wrong (bad frames,
	// refused attempts, refused fixes, limits); the rest are counted in LogsSuppressed.
	LogPerIP Limit
}

// DefaultLimits: 30 attempts at once then 1 a second per address (a fleet behind one NAT
// reconnecting), 10 then 1 per 6 s per terminal, 20 log lines then 1 a second per address.
var DefaultLimits = Limits{
	AttemptsPerIP:       Limit{Every: time.Second, Burst: 30},
	AttemptsPerTerminal: Limit{Every: 6 * time.Second, Burst: 10},
	LogPerIP:            Limit{Every: time.Second, Burst: 20},
}

func (l Limits) withDefaults() Limits {
	fill := func(v *Limit, d Limit) {
		if v.Every <= 0 {
			v.Every = d.Every
		}
		if v.Burst <= 0 {
			v.Burst = d.Burst
		}
	}
	fill(&l.AttemptsPerIP, DefaultLimits.AttemptsPerIP)
	fill(&l.AttemptsPerTerminal, DefaultLimits.AttemptsPerTerminal)
	fill(&l.LogPerIP, DefaultLimits.LogPerIP)
	return l
}

// maxKeys bounds the keys one limiterSet remembers.
const maxKeys = 1 << 16

// limiterSet is a token bucket per key (golang.org/x/time/rate). Memory is bounded: when full,
// it forgets the keys whose bucket has refilled (forgetting those changes nothing), and when
// that frees nothing it refuses new keys (fails closed).
type limiterSet struct {
	limit rate.Limit
	burst int
	full  time.Duration // time for an empty bucket to refill

	mu   sync.Mutex
	keys map[string]*keyLimiter
}

type keyLimiter struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiterSet(l Limit) *limiterSet {
	return &limiterSet{limit: rate.Every(l.Every), burst: l.Burst, full: l.Every * time.Duration(l.Burst),
		keys: make(map[string]*keyLimiter)}
}

func (ls *limiterSet) allow(key string, now time.Time) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	k := ls.keys[key]
	if k == nil {
		if len(ls.keys) >= maxKeys {
			for key, k := range ls.keys {
				if now.Sub(k.last) >= ls.full {
					delete(ls.keys, key)
				}
			}
			if len(ls.keys) >= maxKeys {
				return false
			}
		}
		k = &keyLimiter{lim: rate.NewLimiter(ls.limit, ls.burst)}
		ls.keys[key] = k
	}
	k.last = now
	return k.lim.AllowN(now, 1)
}

// limiters are the server's rate limits.
type limiters struct {
	now                  func() time.Time
	perIP, perTerm, logs *limiterSet
}

func newLimiters(l Limits) *limiters {
	return &limiters{now: time.Now, perIP: newLimiterSet(l.AttemptsPerIP), perTerm: newLimiterSet(l.AttemptsPerTerminal),
		logs: newLimiterSet(l.LogPerIP)}
}

// attempt reports whether a registration or authentication from ip for terminal may proceed.
// The address bucket is asked first, so that attempts refused for their address do not drain
// the terminal's bucket.
func (l *limiters) attempt(ip, terminal string) bool {
	now := l.now()
	return l.perIP.allow(ip, now) && l.perTerm.allow(terminal, now)
}

// log reports whether a log line about ip may be written.
func (l *limiters) log(ip string) bool { return l.logs.allow(ip, l.now()) }
