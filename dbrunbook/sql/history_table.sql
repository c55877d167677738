-- history_table: is supabase_migrations.schema_migrations there, and which columns it has
-- (the CLI adds `statements` and `name` idempotently; old projects may lack them).
select pg_catalog.to_regclass('supabase_migrations.schema_migrations') is not null as present,
       exists (select 1 from pg_catalog.pg_attribute a
               where a.attrelid = pg_catalog.to_regclass('supabase_migrations.schema_migrations')
                 and a.attname = 'statements' and not a.attisdropped) as has_statements,
       exists (select 1 from pg_catalog.pg_attribute a
               where a.attrelid = pg_catalog.to_regclass('supabase_migrations.schema_migrations')
                 and a.attname = 'name' and not a.attisdropped) as has_name;
