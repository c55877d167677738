-- Tables in an exposed schema that anon or authenticated can reach, with RLS disabled (splinter 0013 shape).
-- Params: %(schemas)s text[], %(tenant_column)s text
select 'rls_disabled_in_exposed_schema' as name,
       'RLS disabled in an exposed schema' as title,
       'ERROR' as level,
       array['SECURITY'] as categories,
       format('Table `%%s.%%s` is reachable through the Data API (%%s) but RLS is disabled%%s', n.nspname, c.relname,
              concat_ws(', ', case when pg_catalog.has_table_privilege('anon', c.oid, 'SELECT,INSERT,UPDATE,DELETE') then 'anon' end,
                        case when pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT,INSERT,UPDATE,DELETE') then 'authenticated' end),
              case when t.attname is not null then '; it carries the tenant column, so every tenant sees every row' else '' end) as detail,
       format('alter table %%I.%%I enable row level security; -- then add policies for each command the grants allow', n.nspname, c.relname) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table', 'tenant_table', t.attname is not null) as metadata,
       format('rls_disabled_in_exposed_schema_%%s_%%s', n.nspname, c.relname) as cache_key
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_attribute t on t.attrelid = c.oid and t.attname = %(tenant_column)s and not t.attisdropped
where c.relkind in ('r', 'p') and not c.relrowsecurity
  and n.nspname = any (%(schemas)s::text[])
  and (pg_catalog.has_table_privilege('anon', c.oid, 'SELECT,INSERT,UPDATE,DELETE')
       or pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))
order by n.nspname, c.relname;
