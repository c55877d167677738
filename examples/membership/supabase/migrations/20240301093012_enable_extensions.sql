-- Extensions we use. Everything goes into the "extensions" schema like the
-- dashboard does, except the ones that insist on their own schema.

create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists pgjwt with schema extensions;
create extension if not exists pg_jsonschema with schema extensions;
create extension if not exists vector with schema extensions;

-- pg_net creates and uses its own "net" schema
create extension if not exists pg_net with schema extensions;

-- pg_cron must live in pg_catalog (see https://supabase.com/docs/guides/database/extensions/pg_cron)
create extension if not exists pg_cron with schema pg_catalog;
grant usage on schema cron to postgres;
grant all privileges on all tables in schema cron to postgres;

-- Vault (pgsodium-free version)
create extension if not exists supabase_vault with schema vault;
