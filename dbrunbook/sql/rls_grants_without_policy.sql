-- Commands granted to authenticated on RLS tables with no permissive policy for that role and command.
-- Such a grant either blocks every request (no policy) or was not meant to be there.
-- Params: %(schemas)s text[]
with cmds(cmd, polcmd) as (values ('SELECT', 'r'), ('INSERT', 'a'), ('UPDATE', 'w'), ('DELETE', 'd')),
-- anon is left out: classic projects grant it ALL by default and rely on RLS (rls.anon_privileges covers it)
roles(rolname) as (values ('authenticated'))
select 'rls_grants_without_policy' as name,
       'Granted command without a policy' as title,
       'WARN' as level,
       array['SECURITY'] as categories,
       format('%%s may %%s on `%%s.%%s` (granted) but no permissive policy applies to it for %%s: every such request is denied, or the grant is a mistake',
              r.rolname, k.cmd, n.nspname, c.relname, k.cmd) as detail,
       format('revoke %%s on table %%I.%%I from %%I; -- or add: create policy ... on %%I.%%I for %%s to %%I using (...)',
              lower(k.cmd), n.nspname, c.relname, r.rolname, n.nspname, c.relname, lower(k.cmd), r.rolname) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'role', r.rolname, 'command', k.cmd, 'type', 'table') as metadata,
       format('rls_grants_without_policy_%%s_%%s_%%s_%%s', n.nspname, c.relname, r.rolname, k.cmd) as cache_key
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
cross join cmds k
cross join roles r
where c.relkind in ('r', 'p') and c.relrowsecurity and n.nspname = any (%(schemas)s::text[])
  and exists (select 1 from pg_catalog.pg_policy p0 where p0.polrelid = c.oid)
  and pg_catalog.has_table_privilege(r.rolname, c.oid, k.cmd)
  and pg_catalog.has_schema_privilege(r.rolname, n.oid, 'USAGE')
  and not exists (select 1 from pg_catalog.pg_policy p
                  where p.polrelid = c.oid and p.polpermissive and p.polcmd in (k.polcmd, '*')
                    and (p.polroles && array[0::oid]
                         or exists (select 1 from pg_catalog.pg_roles pr where pr.oid = any (p.polroles)
                                    and pg_catalog.pg_has_role(r.rolname, pr.oid, 'USAGE'))))
order by 1;
