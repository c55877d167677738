-- catalog_privileges: explicit and implicit (acldefault) grants on user schemas, tables, views,
-- sequences, columns and functions, one row per object (catalog.py makes one per grantee). The grantor is left out: it
-- depends on who ran the GRANT, not on what it allows. MAINTAIN (PostgreSQL 17+) is left out: it
-- does not exist on older majors, so comparing it would be drift between versions, not schemas.
with objects as (
  select 'schema' as kind, n.nspname as name, coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner)) as acl
  from pg_catalog.pg_namespace n where n.oid = any(%(schemas)s::oid[])
  union all
  select case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view'
           else 'table' end,
         n.nspname || '.' || c.relname,
         coalesce(c.relacl, pg_catalog.acldefault((case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner))
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p', 'f', 'v', 'm', 'S') and c.relnamespace = any(%(schemas)s::oid[])
    and not exists (select 1 from pg_catalog.pg_depend d
                    where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid
                      and d.deptype = 'e')
  union all
  select 'column', n.nspname || '.' || c.relname || '.' || a.attname, a.attacl
  from pg_catalog.pg_attribute a
  join pg_catalog.pg_class c on c.oid = a.attrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where a.attacl is not null and a.attnum > 0 and not a.attisdropped and c.relnamespace = any(%(schemas)s::oid[])
  union all
  select case p.prokind when 'p' then 'procedure' else 'function' end,
         n.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
         coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))
  from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  where p.pronamespace = any(%(schemas)s::oid[]) and pg_catalog.pg_get_userbyid(p.proowner) <> 'supabase_admin'
    and not exists (select 1 from pg_catalog.pg_depend d
                    where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.objid = p.oid
                      and d.deptype = 'e')
)
-- The ACLs as text, one row per object: dbrunbook.catalog explodes them (aclexplode + grouping
-- here was most of this probe's time on a 500-table schema).
select o.kind, o.name, o.acl::text[] as acl
from objects o;
