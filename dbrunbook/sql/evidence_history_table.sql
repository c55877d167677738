-- Does the Supabase CLI history table exist here?
select pg_catalog.to_regclass('supabase_migrations.schema_migrations') is not null as present;
