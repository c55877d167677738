-- catalog_tables: tables (plain, partitioned, foreign) of user schemas; extension members excluded.
select n.nspname as schema, c.relname as name,
       case c.relkind when 'r' then 'table' when 'p' then 'partitioned table' when 'f' then 'foreign table' end
         as kind,
       c.relrowsecurity as rls_enabled, c.relforcerowsecurity as rls_forced,
       case c.relpersistence when 'u' then 'unlogged' else 'permanent' end as persistence,
       case when c.relkind = 'p' then pg_catalog.pg_get_partkeydef(c.oid) end as partition_key,
       case when c.relispartition then pg_catalog.pg_get_expr(c.relpartbound, c.oid) end as partition_bound,
       case c.relreplident when 'd' then 'default' when 'n' then 'nothing' when 'f' then 'full' else 'index' end
         as replica_identity,
       coalesce((select pg_catalog.array_agg(o order by o) from pg_catalog.unnest(c.reloptions) o), '{}')
         as options
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'f') and c.relnamespace = any(%(schemas)s::oid[])
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.objid = c.oid and d.deptype = 'e');
