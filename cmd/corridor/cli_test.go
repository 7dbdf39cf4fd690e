package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/corridor-dev/corridor/internal/pgtest"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestMigrateAndAPIKeyCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.NewURL(t, false)}
	code, out, errs := runCLI(t, env, "migrate", "status")
	if code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("status before: %d %q %q", code, out, errs)
	}
	code, out, errs = runCLI(t, env, "migrate", "up")
	if code != 0 || strings.Contains(out, "pending") || !strings.Contains(out, "00001_schema.sql") {
		t.Fatalf("up: %d %q %q", code, out, errs)
	}
	if code, _, _ := runCLI(t, env, "apikey", "create", "--role", "carrier"); code != 2 {
		t.Fatalf("carrier key without --carrier: exit %d", code)
	}
	code, token, errs := runCLI(t, env, "apikey", "create", "--role", "safety", "--name", "duty officer")
	token = strings.TrimSpace(token)
	if code != 0 || len(token) < 20 || strings.Contains(token, "\n") {
		t.Fatalf("apikey: %d %q %q", code, token, errs)
	}
	// The token works against a server on the same database, with the safety role.
	env["CORRIDOR_DATA_DIR"] = t.TempDir()
	srv := startServe(t, env)
	req, _ := http.NewRequest("GET", srv.base+"/v1/alarms", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("safety token: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", srv.base+"/v1/carriers", strings.NewReader(`{"id":"x","name":"x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("safety creating a carrier: %d", resp.StatusCode)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCLI(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "corridor ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errs := runCLI(t, nil, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown: %d %q", code, errs)
	}
	if code, _, _ := runCLI(t, nil); code != 2 {
		t.Fatalf("no command: %d", code)
	}
}
