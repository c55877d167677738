-- catalog_types: enums (labels in order), domains (base type, NOT NULL, default) and composite
-- types (attributes) of user schemas; domain CHECKs are in catalog_constraints.
select n.nspname as schema, t.typname as name,
       case t.typtype when 'e' then 'enum' when 'd' then 'domain' when 'c' then 'composite' when 'r' then 'range'
         else t.typtype::text end as kind,
       case when t.typtype = 'e' then (select pg_catalog.array_agg(e.enumlabel::text order by e.enumsortorder)
                                       from pg_catalog.pg_enum e where e.enumtypid = t.oid) end as labels,
       case when t.typtype = 'd' then pg_catalog.format_type(t.typbasetype, t.typtypmod) end as base_type,
       case when t.typtype = 'd' then t.typnotnull end as not_null,
       t.typdefault as "default",
       case when t.typtype = 'c' then (
         select pg_catalog.array_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                                     order by a.attnum)
         from pg_catalog.pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped)
       end as attributes
from pg_catalog.pg_type t
join pg_catalog.pg_namespace n on n.oid = t.typnamespace
where t.typtype in ('e', 'd', 'c', 'r') and t.typnamespace = any(%(schemas)s::oid[])
  and (t.typtype <> 'c' or (select c.relkind from pg_catalog.pg_class c where c.oid = t.typrelid) = 'c')
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
                  and d.objid = t.oid and d.deptype = 'e');
