-- Tables in an exposed schema that anon or authenticated can reach, with RLS disabled (splinter 0013 shape).
-- Reachable = the role has USAGE on the schema and a privilege on the table. tenant_table: a contracted
-- table or one carrying a tenant column (the contract's, or the usual names without a contract).
-- Params: %(schemas)s text[], %(tenant_columns)s text[], %(tenant_tables)s text[]
select 'rls_disabled_in_exposed_schema' as name,
       'RLS disabled in an exposed schema' as title,
       'ERROR' as level,
       array['SECURITY'] as categories,
       format('Table `%%s.%%s` is reachable through the Data API (%%s) but RLS is disabled%%s', n.nspname, c.relname,
              concat_ws(', ', case when (pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE') and pg_catalog.has_table_privilege('anon', c.oid, 'SELECT,INSERT,UPDATE,DELETE')) then 'anon' end,
                        case when (pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE') and pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT,INSERT,UPDATE,DELETE')) then 'authenticated' end),
              case when t.tenant then '; it holds tenant rows, so every tenant sees every row' else '' end) as detail,
       format('alter table %%I.%%I enable row level security; -- then add policies for each command the grants allow', n.nspname, c.relname) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table', 'tenant_table', t.tenant) as metadata,
       format('rls_disabled_in_exposed_schema_%%s_%%s', n.nspname, c.relname) as cache_key
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
cross join lateral (select n.nspname || '.' || c.relname = any (%(tenant_tables)s::text[])
                     or exists (select 1 from pg_catalog.pg_attribute a
                                where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                                  and a.attname = any (%(tenant_columns)s::text[])) as tenant) t
where c.relkind in ('r', 'p') and not c.relrowsecurity
  and n.nspname = any (%(schemas)s::text[])
  and ((pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE') and pg_catalog.has_table_privilege('anon', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))
       or (pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE') and pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT,INSERT,UPDATE,DELETE')))
order by n.nspname, c.relname;
