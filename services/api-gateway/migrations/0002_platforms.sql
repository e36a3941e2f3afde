-- Platforms registered through /api/v1/platforms.

CREATE TABLE platforms (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    owner_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    type          text NOT NULL DEFAULT 'custom'
                  CHECK (type IN ('web', 'desktop', 'im', 'api', 'worker', 'extension', 'custom')),
    config        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    capabilities  text[] NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'inactive'
                  CHECK (status IN ('active', 'inactive', 'deploying', 'maintenance', 'deprecated')),
    k8s_namespace text NOT NULL DEFAULT 'eco-base',
    deploy_target text NOT NULL DEFAULT '',
    uri           text NOT NULL CHECK (uri LIKE 'eco-base://%'),
    urn           text NOT NULL UNIQUE CHECK (urn LIKE 'urn:eco-base:%'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX platforms_owner_idx ON platforms (owner_id);
CREATE INDEX platforms_created_idx ON platforms (created_at DESC);
-- "platforms that can do X": capabilities @> ARRAY['X']
CREATE INDEX platforms_capabilities_idx ON platforms USING gin (capabilities);
CREATE TRIGGER platforms_touch BEFORE UPDATE ON platforms FOR EACH ROW EXECUTE FUNCTION eco_touch_updated_at();
