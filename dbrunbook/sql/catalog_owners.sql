-- catalog_owners: the owner of every user schema, relation, function and type.
select 'schema' as kind, n.nspname as name, pg_catalog.pg_get_userbyid(n.nspowner) as owner
from pg_catalog.pg_namespace n where n.oid = any(%(schemas)s::oid[])
union all
select case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view'
         else 'table' end, n.nspname || '.' || c.relname, pg_catalog.pg_get_userbyid(c.relowner)
from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'f', 'v', 'm', 'S') and c.relnamespace = any(%(schemas)s::oid[])
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.objid = c.oid and d.deptype = 'e')
union all
select case p.prokind when 'p' then 'procedure' else 'function' end,
       n.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
       pg_catalog.pg_get_userbyid(p.proowner)
from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where p.pronamespace = any(%(schemas)s::oid[])
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                  and d.objid = p.oid and d.deptype = 'e')
union all
select 'type', n.nspname || '.' || t.typname, pg_catalog.pg_get_userbyid(t.typowner)
from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
where t.typtype in ('e', 'd', 'c', 'r') and t.typnamespace = any(%(schemas)s::oid[])
  and (t.typtype <> 'c' or (select c.relkind from pg_catalog.pg_class c where c.oid = t.typrelid) = 'c')
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
                  and d.objid = t.oid and d.deptype = 'e');
