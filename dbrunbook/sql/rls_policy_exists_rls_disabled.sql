-- Policies written on a table whose RLS is off: they protect nothing (splinter 0007 shape).
-- Params: %(schemas)s text[]
select 'rls_policy_exists_rls_disabled' as name,
       'Policy exists, RLS disabled' as title,
       'ERROR' as level,
       array['SECURITY'] as categories,
       format('Table `%%s.%%s` has policies (%%s) but RLS is disabled, so none of them applies', n.nspname, c.relname,
              string_agg(p.polname, ', ' order by p.polname)) as detail,
       format('alter table %%I.%%I enable row level security;', n.nspname, c.relname) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table') as metadata,
       format('rls_policy_exists_rls_disabled_%%s_%%s', n.nspname, c.relname) as cache_key
from pg_catalog.pg_policy p
join pg_catalog.pg_class c on c.oid = p.polrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where not c.relrowsecurity and n.nspname = any (%(schemas)s::text[])
group by n.nspname, c.relname
order by 1;
