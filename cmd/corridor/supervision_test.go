package main

import (
	"strings"
	"testing"
	"time"
)

func TestSupervisionConfig(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want SupervisionConfig
		errs []string
	}{
		{env: nil, want: SupervisionConfig{EscalateAfter: 5 * time.Minute, ReportInterval: 30 * time.Second, ReportRefresh: 5 * time.Minute}},
		{env: map[string]string{"CORRIDOR_ESCALATE_AFTER": "off", "CORRIDOR_REPORT_INTERVAL": "10s", "CORRIDOR_REPORT_REFRESH": "0s"},
			want: SupervisionConfig{ReportInterval: 10 * time.Second}},
		{env: map[string]string{"CORRIDOR_ESCALATE_AFTER": "soon", "CORRIDOR_REPORT_INTERVAL": "off", "CORRIDOR_REPORT_REFRESH": "-1m"},
			errs: []string{"CORRIDOR_ESCALATE_AFTER", "CORRIDOR_REPORT_INTERVAL", "CORRIDOR_REPORT_REFRESH"}},
	} {
		cfg, err := loadConfig(func(k string) string { return c.env[k] })
		if len(c.errs) == 0 {
			if err != nil || cfg.Supervision != c.want {
				t.Errorf("%v: %+v, %v; want %+v", c.env, cfg.Supervision, err, c.want)
			}
			continue
		}
		if err == nil || len(strings.Split(err.Error(), "\n")) != len(c.errs) {
			t.Errorf("%v: error %v, want one line for each of %v", c.env, err, c.errs)
			continue
		}
		for _, name := range c.errs {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%v: error %v does not name %s", c.env, err, name)
			}
		}
	}
}
