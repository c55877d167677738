-- tests/platform_b.sql: a second Supabase platform layer that differs on purpose from the embedded
-- one, as production's platform does (another build, another era). Run as supabase_admin on top of
-- the embedded platform layer, before any migration (tests/test_drift_platform.py). Nothing here is
-- created or changed by a project's migrations, so drift must not report any of it by default.

-- other extension versions, and extensions another era pre-installs
drop extension if exists pg_stat_statements;
create extension pg_stat_statements with schema extensions version '1.9';
create extension if not exists pgsodium;  -- schema pgsodium (2024 era): a no-op there
create extension if not exists pg_graphql;  -- schema graphql

-- extra platform schemas, with objects and grants of their own
create schema _supavisor authorization supabase_admin;
create table _supavisor.tenants (id text primary key, db_host text not null);
grant usage on schema _supavisor to postgres;
grant select on _supavisor.tenants to postgres;
create schema platform_ops authorization supabase_admin;
create function platform_ops.get_auth(p_usename text) returns table (username text, password text)
  language sql security definer set search_path = '' as $$ select null::text, null::text $$;
revoke all on function platform_ops.get_auth(text) from public;
grant execute on function platform_ops.get_auth(text) to pgbouncer;

-- platform roles' grants and default privileges on the project's schema
grant all on schema public to supabase_admin, dashboard_user;
alter default privileges for role supabase_admin in schema public grant all on tables to postgres, anon, authenticated,
  service_role;
alter default privileges for role supabase_admin in schema public grant all on functions to postgres, anon,
  authenticated, service_role;
alter default privileges for role postgres in schema public grant select on tables to supabase_read_only_user;
alter default privileges for role postgres in schema public grant all on sequences to dashboard_user;

-- platform roles' settings, and a cluster-wide setting of an API role the embedded layer does not set
alter role supabase_admin set statement_timeout = '0';
alter role supabase_storage_admin set statement_timeout = '30s';
alter role supabase_auth_admin set idle_in_transaction_session_timeout = 30000;
alter role pgbouncer set search_path = platform_ops;
alter role authenticator set pgrst.db_pre_config = 'postgrest.pre_config';

-- a publication of the platform
create publication supabase_realtime_messages_publication;
