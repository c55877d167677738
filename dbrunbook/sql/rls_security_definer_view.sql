-- Views the API roles can read that run with their owner's rights (no security_invoker; splinter 0010 shape).
-- Params: %(schemas)s text[]
select 'rls_security_definer_view' as name,
       'Security definer view' as title,
       'ERROR' as level,
       array['SECURITY'] as categories,
       format('View `%%s.%%s` runs as its owner %%s (no security_invoker), so RLS of the tables below is checked for the owner, not the caller',
              n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner)) as detail,
       format('alter view %%I.%%I set (security_invoker = true);', n.nspname, c.relname) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'view') as metadata,
       format('rls_security_definer_view_%%s_%%s', n.nspname, c.relname) as cache_key
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('v', 'm') and n.nspname = any (%(schemas)s::text[])
  and not exists (select 1 from unnest(c.reloptions) o
                  where lower(o) in ('security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes'))
  and ((pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE') and pg_catalog.has_table_privilege('anon', c.oid, 'SELECT')) or (pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE') and pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT')))
  and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
order by 1;
