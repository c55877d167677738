-- Is the target Supabase-shaped? One row: what a Supabase database has and this one may lack.
select exists (select from pg_catalog.pg_namespace where nspname = 'auth') as auth_schema,
       exists (select from pg_catalog.pg_roles where rolname = 'anon') as anon_role,
       exists (select from pg_catalog.pg_roles where rolname = 'authenticated') as authenticated_role,
       pg_catalog.to_regclass('supabase_migrations.schema_migrations') is not null as history_table
