-- The board's search endpoint needs more than the default 8s for big orgs.
-- https://supabase.com/docs/guides/database/postgres/timeouts
alter role authenticated set statement_timeout = '10s';
notify pgrst, 'reload config';
