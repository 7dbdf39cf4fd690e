package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// A generated admin token is printed once as a plain line, never inside a JSON log line; an
// embedded NATS listening beyond loopback refuses clients without the generated credential while
// serve's own clients use it.
func TestServeGeneratedSecrets(t *testing.T) {
	srv := startServe(t, map[string]string{
		"DATABASE_URL": pgtest.NewURL(t, true), "CORRIDOR_DATA_DIR": t.TempDir(),
		"CORRIDOR_ADMIN_TOKEN": "", "CORRIDOR_LOG_LEVEL": "info", "CORRIDOR_LOG_FORMAT": "json",
		"CORRIDOR_EMBEDDED_NATS_ADDR": "0.0.0.0:0",
	})
	out := srv.out.String()
	m := regexp.MustCompile(`(?m)^corridor: generated admin token \(shown once[^)]*\): ([0-9a-f]{48})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no generated admin token line in:\n%s", out)
	}
	token := m[1]
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "{") && strings.Contains(line, token) {
			t.Fatalf("the admin token is in a log line: %s", line)
		}
	}
	req, _ := http.NewRequest("GET", srv.base+"/v1/vehicles", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the generated token does not work: %v %v", resp, err)
	}
	resp.Body.Close()

	url := regexp.MustCompile(`"url":"(nats://[^"]+)"`).FindStringSubmatch(out)
	if url == nil {
		t.Fatalf("embedded NATS url not logged:\n%s", out)
	}
	if nc, err := nats.Connect(url[1]); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected to the embedded NATS listening beyond loopback")
	}
	if _, err := natsbus.Connect(context.Background(), url[1], "anon", nil); err == nil {
		t.Fatal("natsbus connected without credentials")
	}
}

func TestLoadAPIConfig(t *testing.T) {
	env := map[string]string{"CORRIDOR_RATE_LIMIT": "off", "CORRIDOR_RATE_LIMIT_PER_ADDR": "50", "CORRIDOR_AUTH_CACHE_TTL": "0s",
		"NATS_USER": "u", "NATS_PASSWORD": "p"}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.API.RateLimit != -1 || c.API.RateLimitPerAddr != 50 || c.API.CacheTTL >= 0 || c.API.StreamMaxPerKey != 20 || c.NATSAuth.User != "u" {
		t.Fatalf("config %+v", c.API)
	}
	env = map[string]string{"CORRIDOR_RATE_LIMIT": "-3", "CORRIDOR_AUTH_CACHE_TTL": "1h", "NATS_TOKEN": "t", "NATS_CREDS": "/x"}
	_, err = loadConfig(func(k string) string { return env[k] })
	for _, want := range []string{"CORRIDOR_RATE_LIMIT", "CORRIDOR_AUTH_CACHE_TTL", "at most one"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
