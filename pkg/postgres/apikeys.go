package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// TokenPrefix starts every API token, so that a leaked token is easy to recognise.
const TokenPrefix = "cor_"

const apiKeyColumns = `id::text, name, role, carrier_id, created_at, revoked_at`

var scanAPIKey = rowTo(func(k *tracking.APIKey) { utc(&k.CreatedAt); utc(k.RevokedAt) })

// HashToken returns the stored form of an API token: its SHA-256 digest.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateAPIKey makes a new API key and returns it with its token, which is not stored and cannot
// be shown again (only its SHA-256 hash is kept). role is admin, dispatcher, safety or carrier;
// carrierID is required for carrier and forbidden otherwise; an unknown carrier is EINVALID.
func (db *DB) CreateAPIKey(ctx context.Context, role, carrierID, name string) (tracking.APIKey, string, error) {
	var fields []tracking.FieldError
	switch role {
	case tracking.RoleAdmin, tracking.RoleDispatcher, tracking.RoleSafety:
		if carrierID != "" {
			fields = append(fields, tracking.FieldError{Field: "carrier_id", Message: "only a carrier key has a carrier_id"})
		}
	case tracking.RoleCarrier:
		if carrierID == "" {
			fields = append(fields, tracking.FieldError{Field: "carrier_id", Message: "required for role carrier"})
		} else if !tracking.ValidID(carrierID) {
			fields = append(fields, tracking.FieldError{Field: "carrier_id", Message: "must match ^[A-Za-z0-9_-]{1,64}$"})
		}
	case "":
		fields = append(fields, tracking.FieldError{Field: "role", Message: "required"})
	default:
		fields = append(fields, tracking.FieldError{Field: "role", Message: "must be one of admin, dispatcher, safety, carrier"})
	}
	name = strings.TrimSpace(name)
	if len(name) > 200 {
		fields = append(fields, tracking.FieldError{Field: "name", Message: "at most 200 bytes"})
	}
	if len(fields) > 0 {
		return tracking.APIKey{}, "", tracking.Invalid(fields...)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return tracking.APIKey{}, "", err
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	var carrier *string
	if carrierID != "" {
		carrier = &carrierID
	}
	rows, _ := db.Pool.Query(ctx, `insert into api_keys (name, role, carrier_id, token_hash) values ($1, $2, $3, $4)
		returning `+apiKeyColumns, name, role, carrier, HashToken(token))
	key, err := pgx.CollectExactlyOneRow(rows, scanAPIKey)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" {
			return tracking.APIKey{}, "", tracking.Invalid(tracking.FieldError{Field: "carrier_id", Message: "unknown carrier"})
		}
		return tracking.APIKey{}, "", mapError(err, "api key")
	}
	return key, token, nil
}

// ListAPIKeys lists every API key, revoked ones included, oldest first. Tokens are never listed.
func (db *DB) ListAPIKeys(ctx context.Context) ([]tracking.APIKey, error) {
	rows, _ := db.Pool.Query(ctx, `select `+apiKeyColumns+` from api_keys order by created_at, id`)
	out, err := pgx.CollectRows(rows, scanAPIKey)
	if err != nil {
		return nil, mapError(err, "api key")
	}
	return out, nil
}

// RevokeAPIKey revokes a key; its token is refused from then on. Revoking a revoked key does
// nothing; ENOTFOUND when there is no such key.
func (db *DB) RevokeAPIKey(ctx context.Context, id string) error {
	if !validUUID(id) {
		return tracking.Errorf(tracking.ENOTFOUND, "api key not found")
	}
	tag, err := db.Pool.Exec(ctx, `update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1`, id)
	if err != nil {
		return mapError(err, "api key")
	}
	if tag.RowsAffected() == 0 {
		return tracking.Errorf(tracking.ENOTFOUND, "api key not found")
	}
	return nil
}

// PrincipalByToken returns who holds token; EUNAUTH when no key that is not revoked has it.
func (db *DB) PrincipalByToken(ctx context.Context, token string) (tracking.Principal, error) {
	var p tracking.Principal
	var carrier *string
	err := db.Pool.QueryRow(ctx, `select id::text, name, role, carrier_id from api_keys
		where token_hash = $1 and revoked_at is null`, HashToken(token)).Scan(&p.KeyID, &p.Name, &p.Role, &carrier)
	if errors.Is(err, pgx.ErrNoRows) {
		return tracking.Principal{}, tracking.Errorf(tracking.EUNAUTH, "unknown or revoked token")
	} else if err != nil {
		return tracking.Principal{}, mapError(err, "api key")
	}
	if carrier != nil {
		p.CarrierID = *carrier
	}
	return p, nil
}
