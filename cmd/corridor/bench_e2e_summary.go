package main

import (
	"fmt"
	"io"
	"time"
)

// engineDrain is a drained-throughput round with a number of engine processes.
type engineDrain struct {
	engines int
	res     drainResult
}

// e2eSummary collects a run's figures and prints them as one markdown table.
type e2eSummary struct {
	o                 e2eFlags
	msgSize           int
	barePub, bareCons float64
	drains            []engineDrain
	storm             *stormResult
	lat               []latencyResult
	mem               []memResult
}

func (s *e2eSummary) write(w io.Writer) {
	fmt.Fprintf(w, "\n## corridor bench e2e: %s vehicles, %d corridors, %d fixes per vehicle per round\n\n",
		fmtInt(int64(s.o.vehicles)), s.o.corridors, s.o.fixes)
	fmt.Fprintf(w, "Machine: %s. Run at %s UTC.\n\n", machine(), time.Now().UTC().Format("2006-01-02 15:04"))
	t := s.table()
	t.write(w)
}

func (s *e2eSummary) table() *table {
	t := &table{head: []string{"measure", "result", "issue 8 target"}}
	if s.barePub > 0 {
		t.add(fmt.Sprintf("bare JetStream publish with PubAck (%d-byte messages)", s.msgSize), fmtRate(s.barePub), "")
		t.add("bare JetStream consume + ack (pull, 1,000 per fetch, AckAll)", fmtRate(s.bareCons), "")
	}
	for _, d := range s.drains {
		parts := max(s.o.partitions, 1)
		what := fmt.Sprintf("engine drained: %d process(es), %d partition(s), %s fixes published at once", d.engines, parts, fmtInt(int64(d.res.fixes)))
		target := "≥ 60,000/s, ≥ 50 % of bare consume"
		if d.engines > parts {
			target = "more processes than partitions: the others stand by"
		}
		switch {
		case d.res.stalled:
			t.add(what, fmt.Sprintf("STALLED: %s of %s persisted, no progress for 60 s", fmtInt(d.res.persisted), fmtInt(int64(d.res.fixes))), target)
		default:
			r := rate(d.res.fixes, d.res.drained)
			cell := fmtRate(r)
			if s.bareCons > 0 {
				cell += fmt.Sprintf(" (%.0f %% of bare consume)", 100*r/s.bareCons)
			}
			t.add(what, cell, target)
		}
	}
	if st := s.storm; st != nil {
		v := fmtInt(int64(st.vehicles))
		if st.err != nil {
			t.add("alarm storm: "+v+" vehicles silent, then reporting", "FAILED: "+st.err.Error(), "≤ 2 s each way")
		} else {
			t.add("alarm storm at engine start: "+v+" signal_lost raised, committed and published (from ready)", fmtMs(st.startRaised), "")
			t.add("alarm storm at engine start: "+v+" signal_lost cleared, committed and published (from first publish)", fmtMs(st.startCleared), "")
			if st.raised < 0 {
				t.add("alarm storm in steady state", "not measurable: every alarm was raised again "+fmtMs(-st.raised)+
					" before the last vehicle was due (the engine is slower than "+v+" vehicles per OFFLINE_AFTER); cleared again in "+fmtMs(st.cleared), "≤ 2 s each way")
			} else {
				t.add("alarm storm: "+v+" signal_lost raised, committed and published (from due time)", fmtMs(st.raised), "≤ 2 s")
				t.add("alarm storm: "+v+" signal_lost cleared, committed and published (from first publish)", fmtMs(st.cleared), "≤ 2 s")
			}
		}
	}
	for _, l := range s.lat {
		target := ""
		if l.rate >= 20000 {
			target = "p99 ≤ 100 ms at 20,000/s for 60 s"
		}
		t.add(fmt.Sprintf("publish → live p50 / p99 / max at %s/s for %s (sent %s at %s, %s seen live)", fmtInt(int64(l.rate)),
			s.o.rateDuration, fmtInt(int64(l.sent)), fmtRate(l.sendRate), fmtInt(int64(l.matched))),
			fmtLat(l.p50)+" / "+fmtLat(l.p99)+" / "+fmtLat(l.max), target)
	}
	for i, m := range s.mem {
		per := m.heap / float64(m.vehicles)
		cell := fmt.Sprintf("heap %s/vehicle (%s in all), RSS %s/vehicle (%s)", fmtBytes(per), fmtBytes(m.heap),
			fmtBytes(m.rss/float64(m.vehicles)), fmtBytes(m.rss))
		if i > 0 && m.vehicles > s.mem[i-1].vehicles {
			marg := (m.heap - s.mem[i-1].heap) / float64(m.vehicles-s.mem[i-1].vehicles)
			cell += "; marginal heap " + fmtBytes(marg) + "/vehicle"
		}
		if m.stalled {
			cell += fmt.Sprintf("; STALLED with %s of %s fixes persisted", fmtInt(m.persisted), fmtInt(int64(m.vehicles)))
		}
		t.add("engine memory, "+fmtInt(int64(m.vehicles))+" vehicles tracked", cell, "≤ 1 KiB heap per vehicle")
	}
	return t
}

// fmtLat is fmtMs, or "not seen" for a percentile among fixes never reflected on live.
func fmtLat(d time.Duration) string {
	if d == notSeen {
		return "not seen in 30 s"
	}
	return fmtMs(d)
}
