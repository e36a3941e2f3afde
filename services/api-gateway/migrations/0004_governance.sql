-- Governance: generated/validated .qyaml documents and the audit trail.

CREATE TABLE yaml_documents (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- document_metadata.unique_id of the governance block
    unique_id         uuid NOT NULL UNIQUE,
    owner_id          uuid REFERENCES users (id) ON DELETE SET NULL,
    module            text NOT NULL CHECK (length(module) BETWEEN 1 AND 253),
    target_system     text NOT NULL DEFAULT 'k8s',
    schema_version    text NOT NULL DEFAULT 'v8' CHECK (schema_version ~ '^v[0-9]+$'),
    generated_by      text NOT NULL DEFAULT 'yaml-toolkit-v8',
    content           text NOT NULL CHECK (octet_length(content) <= 1048576),
    content_sha256    bytea NOT NULL CHECK (octet_length(content_sha256) = 32),
    validation_status text NOT NULL DEFAULT 'pending'
                      CHECK (validation_status IN ('pending', 'valid', 'invalid', 'warning')),
    validation_errors jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(validation_errors) = 'array'),
    uri               text CHECK (uri LIKE 'eco-base://%'),
    urn               text CHECK (urn LIKE 'urn:eco-base:%'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX yaml_documents_owner_idx ON yaml_documents (owner_id, created_at DESC);
CREATE INDEX yaml_documents_module_idx ON yaml_documents (module, created_at DESC);
CREATE TRIGGER yaml_documents_touch BEFORE UPDATE ON yaml_documents
    FOR EACH ROW EXECUTE FUNCTION eco_touch_updated_at();

-- Audit: each service writes its row in the same transaction as the change it audits.
-- actor is "user:<uuid>", "api_key:<uuid>" or "system:<service>"; detail never holds secrets.
CREATE TABLE governance_records (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    action      text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target_type text NOT NULL CHECK (length(target_type) BETWEEN 1 AND 100),
    target_id   text CHECK (length(target_id) <= 200),
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    detail      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    request_id  text CHECK (length(request_id) <= 128),
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX governance_records_at_idx ON governance_records (at DESC);
CREATE INDEX governance_records_target_idx ON governance_records (target_type, target_id, at DESC);
CREATE INDEX governance_records_actor_idx ON governance_records (actor, at DESC);
CREATE INDEX governance_records_action_idx ON governance_records (action, at DESC);

-- The trail is append-only: rows are never updated or deleted by the application.
CREATE FUNCTION governance_records_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'governance_records is append-only'
        USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'governance_records_append_only';
END
$$;
CREATE TRIGGER governance_records_append_only BEFORE UPDATE OR DELETE ON governance_records
    FOR EACH ROW EXECUTE FUNCTION governance_records_append_only();
