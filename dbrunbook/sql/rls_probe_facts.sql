-- What one relation lets each API role do, read before any probe (rls matrix): its kind, the
-- columns of its unique indexes, and per role schema USAGE and table/column privileges. Deciding
-- "anon cannot read X" from these instead of trying leaves no ERROR line in the server log.
-- Params: %(schema)s, %(table)s, %(roles)s text[]
select c.relkind::text as relkind,
       coalesce((select array_agg(distinct a.attname::text)
                 from pg_catalog.pg_index i
                 join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
                 where i.indrelid = c.oid and i.indisunique), '{}') as unique_columns,
       coalesce((select jsonb_object_agg(r.rolname, jsonb_build_object(
                   'usage', has_schema_privilege(r.oid, n.oid, 'USAGE'),
                   'select', has_table_privilege(r.oid, c.oid, 'SELECT'),
                   'insert', has_table_privilege(r.oid, c.oid, 'INSERT'),
                   'update', has_table_privilege(r.oid, c.oid, 'UPDATE'),
                   'delete', has_table_privilege(r.oid, c.oid, 'DELETE'),
                   'insert_columns', coalesce((select jsonb_agg(a.attname order by a.attnum)
                                               from pg_catalog.pg_attribute a
                                               where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                                                 and has_column_privilege(r.oid, c.oid, a.attnum, 'INSERT')), '[]'),
                   'update_columns', coalesce((select jsonb_agg(a.attname order by a.attnum)
                                               from pg_catalog.pg_attribute a
                                               where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                                                 and has_column_privilege(r.oid, c.oid, a.attnum, 'UPDATE')), '[]')))
                 from pg_catalog.pg_roles r where r.rolname = any (%(roles)s::text[])), '{}') as roles
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relname = %(table)s;
