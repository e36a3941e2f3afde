-- Asynchronous AI jobs: the job rows, their event log, and the transactional outbox that
-- job-poller relays to Kafka. One job id (uuid) is used end to end.

CREATE TABLE ai_jobs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id      uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    -- client-supplied Idempotency-Key: a retried submission finds the first job
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
    priority        text NOT NULL DEFAULT 'normal' CHECK (priority IN ('high', 'normal', 'low')),
    model           text NOT NULL CHECK (length(model) BETWEEN 1 AND 256),
    request         jsonb NOT NULL CHECK (jsonb_typeof(request) = 'object'),
    result          jsonb,
    error           text,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    deadline        timestamptz,
    CONSTRAINT ai_jobs_finished_when_final
        CHECK ((status IN ('succeeded', 'failed', 'cancelled', 'expired')) = (finished_at IS NOT NULL)),
    CONSTRAINT ai_jobs_started_when_running CHECK (status <> 'running' OR started_at IS NOT NULL),
    CONSTRAINT ai_jobs_result_when_succeeded CHECK (status <> 'succeeded' OR result IS NOT NULL)
);
CREATE UNIQUE INDEX ai_jobs_idempotency_key ON ai_jobs (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- GET /api/v1/ai/jobs (own jobs, newest first; optionally by status)
CREATE INDEX ai_jobs_owner_idx ON ai_jobs (owner_id, created_at DESC);
CREATE INDEX ai_jobs_owner_status_idx ON ai_jobs (owner_id, status, created_at DESC);
-- job-poller sweeps: expired deadlines and stale running jobs
CREATE INDEX ai_jobs_open_deadline_idx ON ai_jobs (deadline) WHERE status IN ('queued', 'running');
CREATE INDEX ai_jobs_open_updated_idx ON ai_jobs (updated_at) WHERE status IN ('queued', 'running');
CREATE TRIGGER ai_jobs_touch BEFORE UPDATE ON ai_jobs FOR EACH ROW EXECUTE FUNCTION eco_touch_updated_at();

-- The state machine: queued -> running | failed | cancelled | expired;
-- running -> queued (retry) | succeeded | failed | cancelled | expired; final states never change.
-- A rejected transition raises check_violation with constraint ai_jobs_status_transition, so an
-- event applied late or twice is recognisable and can be ignored.
CREATE FUNCTION ai_jobs_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status = 'queued' AND NEW.status IN ('running', 'failed', 'cancelled', 'expired'))
       OR (OLD.status = 'running' AND NEW.status IN ('queued', 'succeeded', 'failed', 'cancelled', 'expired')) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'job status cannot change from % to %', OLD.status, NEW.status
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ai_jobs_status_transition', TABLE = 'ai_jobs';
END
$$;
CREATE TRIGGER ai_jobs_transition BEFORE UPDATE OF status ON ai_jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION ai_jobs_check_transition();

-- Events consumed from eco.jobs.events. Applying one is
-- INSERT ... ON CONFLICT (job_id, seq) DO NOTHING, so a redelivered event is a no-op.
CREATE TABLE job_events (
    job_id  uuid NOT NULL REFERENCES ai_jobs (id) ON DELETE CASCADE,
    seq     bigint NOT NULL CHECK (seq >= 0),
    type    text NOT NULL CHECK (length(type) BETWEEN 1 AND 64),
    payload jsonb NOT NULL DEFAULT '{}',
    at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_events_job_seq_key PRIMARY KEY (job_id, seq)
);

-- Transactional outbox: written in the same transaction as the change it announces;
-- job-poller publishes pending rows in id order (FOR UPDATE SKIP LOCKED) and sets published_at.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL CHECK (length(topic) BETWEEN 1 AND 249),
    key          text,
    payload      bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;
-- retention sweep of published rows
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
