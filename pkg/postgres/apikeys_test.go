package postgres_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func TestAPIKeys(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	if _, err := db.CreateCarrier(ctx, tracking.Carrier{ID: "acme", Name: "ACME"}); err != nil {
		t.Fatal(err)
	}
	key, token, err := db.CreateAPIKey(ctx, tracking.RoleCarrier, "acme", "acme gateway")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, postgres.TokenPrefix) || len(token) < 40 || key.Role != "carrier" || *key.CarrierID != "acme" {
		t.Fatalf("key %+v token %q", key, token)
	}
	var stored []byte
	if err := db.Pool.QueryRow(ctx, `select token_hash from api_keys where id = $1`, key.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, postgres.HashToken(token)) {
		t.Fatal("token hash not stored")
	}
	p, err := db.PrincipalByToken(ctx, token)
	if err != nil || p.KeyID != key.ID || p.Role != "carrier" || p.CarrierID != "acme" || p.Name != "acme gateway" {
		t.Fatalf("principal %+v %v", p, err)
	}
	_, _, err = db.CreateAPIKey(ctx, tracking.RoleCarrier, "", "")
	wantCode(t, err, tracking.EINVALID)
	_, _, err = db.CreateAPIKey(ctx, tracking.RoleSafety, "acme", "")
	wantCode(t, err, tracking.EINVALID)
	_, _, err = db.CreateAPIKey(ctx, "root", "", "")
	wantCode(t, err, tracking.EINVALID)
	_, _, err = db.CreateAPIKey(ctx, tracking.RoleCarrier, "nope", "")
	wantCode(t, err, tracking.EINVALID)
	if _, _, err := db.CreateAPIKey(ctx, tracking.RoleSafety, "", "officer"); err != nil {
		t.Fatal(err)
	}
	keys, err := db.ListAPIKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("list %v %v", keys, err)
	}
	if err := db.RevokeAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.RevokeAPIKey(ctx, "00000000-0000-0000-0000-000000000000"), tracking.ENOTFOUND)
	_, err = db.PrincipalByToken(ctx, token)
	wantCode(t, err, tracking.EUNAUTH)
	_, err = db.PrincipalByToken(ctx, "cor_guess")
	wantCode(t, err, tracking.EUNAUTH)
}
