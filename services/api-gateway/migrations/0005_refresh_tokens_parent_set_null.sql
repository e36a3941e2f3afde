-- Sweeping an expired parent refresh token must not delete its still-valid rotated descendants
-- (0001 created the chain link with ON DELETE CASCADE).
ALTER TABLE refresh_tokens
    DROP CONSTRAINT refresh_tokens_parent_id_fkey,
    ADD CONSTRAINT refresh_tokens_parent_id_fkey
        FOREIGN KEY (parent_id) REFERENCES refresh_tokens (id) ON DELETE SET NULL;
