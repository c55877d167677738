-- catalog_views: views and materialized views of user schemas, with their options
-- (security_invoker, security_barrier, check_option).
select n.nspname as schema, c.relname as name,
       case c.relkind when 'v' then 'view' else 'materialized view' end as kind,
       pg_catalog.pg_get_viewdef(c.oid, true) as definition,
       coalesce((select pg_catalog.array_agg(o order by o) from pg_catalog.unnest(c.reloptions) o), '{}')
         as options
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('v', 'm') and c.relnamespace = any(%(schemas)s::oid[])
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.objid = c.oid and d.deptype = 'e');
