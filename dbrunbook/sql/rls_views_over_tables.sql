-- Views in the exposed schemas and the tables they read, with security_invoker (bypass audit).
-- Params: %(schemas)s text[]
select distinct v.nspname || '.' || vc.relname as view,
       tn.nspname || '.' || tc.relname as base_table,
       pg_catalog.pg_get_userbyid(vc.relowner) as owner,
       exists (select 1 from unnest(vc.reloptions) o
               where lower(o) in ('security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes')) as security_invoker
from pg_catalog.pg_class vc
join pg_catalog.pg_namespace v on v.oid = vc.relnamespace
join pg_catalog.pg_rewrite rw on rw.ev_class = vc.oid
join pg_catalog.pg_depend d on d.objid = rw.oid and d.classid = 'pg_catalog.pg_rewrite'::regclass
join pg_catalog.pg_class tc on tc.oid = d.refobjid and tc.relkind in ('r', 'p') and tc.oid <> vc.oid
join pg_catalog.pg_namespace tn on tn.oid = tc.relnamespace
where vc.relkind in ('v', 'm') and v.nspname = any (%(schemas)s::text[])
order by 1, 2;
