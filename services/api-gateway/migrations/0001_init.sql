-- Identity: users, API keys and refresh tokens. Secrets are stored only as hashes
-- (argon2id PHC strings for passwords, SHA-256 for API keys and refresh tokens).

-- Keeps updated_at current on every UPDATE of a table that has the column.
CREATE FUNCTION eco_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 320 AND position('@' IN email) > 1),
    password_hash text NOT NULL CHECK (password_hash LIKE '$%'),
    role          text NOT NULL DEFAULT 'viewer' CHECK (role IN ('admin', 'developer', 'viewer')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique regardless of case; look-ups use lower(email) = lower($1).
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
-- Bootstrap checks "is there any admin".
CREATE INDEX users_role_idx ON users (role) WHERE NOT disabled;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION eco_touch_updated_at();

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- the non-secret leading characters shown in listings ("eco_ab12cd34")
    prefix        text NOT NULL CHECK (length(prefix) BETWEEN 4 AND 32),
    secret_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(secret_sha256) = 32),
    role          text NOT NULL CHECK (role IN ('admin', 'developer', 'viewer')),
    -- NULL: the service-wide default limit
    rpm_limit     integer CHECK (rpm_limit > 0),
    tpm_limit     integer CHECK (tpm_limit > 0),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX api_keys_owner_idx ON api_keys (owner_id, created_at DESC);

CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
    -- rotation chain: each refresh issues a child of the presented token; all share family_id.
    -- Presenting a token that already has a child (or is revoked) revokes the whole family.
    parent_id    uuid REFERENCES refresh_tokens (id) ON DELETE CASCADE,
    family_id    uuid NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at > created_at),
    CHECK (parent_id IS NULL OR parent_id <> id)
);
-- A token can be rotated once: two concurrent refreshes with the same token cannot both win.
CREATE UNIQUE INDEX refresh_tokens_parent_key ON refresh_tokens (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
