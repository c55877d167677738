-- What the RLS matrix reads about its contracted relations, all of them in one query (one row
-- each; a relation not in the database has none): its kind, the columns of its unique indexes, per
-- role schema USAGE and table/column privileges (deciding "anon cannot read X" from these instead
-- of trying leaves no ERROR line in the server log), its columns as a generated INSERT sees them
-- (as rls_table_columns.sql) and its policies (as rls_policies_of.sql, by name).
-- Params: %(schemas)s text[], %(tables)s text[] (pairwise: schema, relation name), %(roles)s text[]
select w.schema || '.' || w.relname as name,
       c.relkind::text as relkind,
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
                 from pg_catalog.pg_roles r where r.rolname = any (%(roles)s::text[])), '{}') as roles,
       coalesce((select jsonb_agg(jsonb_build_object(
                   'name', a.attname,
                   'type', format_type(a.atttypid, a.atttypmod),
                   'not_null', a.attnotnull,
                   'has_default', (a.atthasdef or a.attidentity <> ''),
                   'generated', (a.attgenerated <> ''),
                   'primary_key', coalesce(a.attnum = any (pk.indkey), false)) order by a.attnum)
                 from pg_catalog.pg_attribute a
                 left join pg_catalog.pg_index pk on pk.indrelid = c.oid and pk.indisprimary
                 where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
       -- pg_get_expr opens the relation (ACCESS SHARE): behind another session's ACCESS EXCLUSIVE,
       -- held or queued, it would wait and time this whole query out, leaving every table without a
       -- verdict. Such a relation's policies are null here and read on their own when a report needs them.
       case when exists (select 1 from pg_catalog.pg_locks l
                         where l.locktype = 'relation' and l.relation = c.oid and l.mode = 'AccessExclusiveLock'
                           and l.pid <> pg_catalog.pg_backend_pid()) then null else
       coalesce((select jsonb_agg(jsonb_build_object(
                   'qualified', w.schema || '.' || w.relname,
                   'policy', p.polname,
                   'permissive', p.polpermissive,
                   'command', case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE'
                                            when 'd' then 'DELETE' else 'ALL' end,
                   'roles', coalesce((select array_agg(case r when 0 then 'public' else pg_catalog.pg_get_userbyid(r) end)
                                      from unnest(p.polroles) r), array['public']),
                   'using_expr', coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), ''),
                   'check_expr', coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')) order by p.polname)
                 from pg_catalog.pg_policy p where p.polrelid = c.oid), '[]') end as policies
from unnest(%(schemas)s::text[], %(tables)s::text[]) as w(schema, relname)
join pg_catalog.pg_namespace n on n.nspname = w.schema
join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = w.relname;
