-- Kind and columns (the shape of rls_table_columns.sql) of many relations in one query
-- (dbrunbook/rls/catalog.py). Params: %(tables)s (schema.table[]); relations that do not exist are absent.
select n.nspname || '.' || c.relname as name,
       c.relkind::text as relkind,
       coalesce((select jsonb_agg(jsonb_build_object(
                   'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull,
                   'has_default', (a.atthasdef or a.attidentity <> ''), 'generated', (a.attgenerated <> ''),
                   'primary_key', coalesce(a.attnum = any (i.indkey), false)) order by a.attnum)
                 from pg_catalog.pg_attribute a
                 left join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
                 where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where n.nspname || '.' || c.relname = any (%(tables)s);
