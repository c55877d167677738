-- RLS on, no policy at all: every API request is denied (splinter 0008 shape). Blocking, not leaking.
-- Params: %(schemas)s text[]
select 'rls_enabled_no_policy' as name,
       'RLS enabled, no policy' as title,
       'INFO' as level,
       array['SECURITY'] as categories,
       format('Table `%%s.%%s` has RLS enabled but no policies: anon and authenticated see and change nothing', n.nspname, c.relname) as detail,
       'add policies for the commands the API roles need, or revoke the grants if the table is internal' as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table') as metadata,
       format('rls_enabled_no_policy_%%s_%%s', n.nspname, c.relname) as cache_key
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and c.relrowsecurity and n.nspname = any (%(schemas)s::text[])
  and not exists (select 1 from pg_catalog.pg_policy p where p.polrelid = c.oid)
  and ((pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE') and pg_catalog.has_table_privilege('anon', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))
       or (pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE') and pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT,INSERT,UPDATE,DELETE')))
order by n.nspname, c.relname;
