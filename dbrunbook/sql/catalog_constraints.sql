-- catalog_constraints: pk, fk, unique, check, exclusion and trigger constraints of user tables and
-- domains (NOT NULL, catalogued as constraints from PostgreSQL 18, is compared with the columns).
select n.nspname as schema, coalesce(c.relname, ty.typname) as relation, k.conname as name,
       case k.contype when 'p' then 'primary key' when 'f' then 'foreign key' when 'u' then 'unique'
         when 'c' then 'check' when 'x' then 'exclusion' when 't' then 'trigger' else k.contype::text end as type,
       pg_catalog.pg_get_constraintdef(k.oid, true) as definition, k.condeferrable as deferrable,
       k.condeferred as deferred, k.convalidated as validated
from pg_catalog.pg_constraint k
join pg_catalog.pg_namespace n on n.oid = k.connamespace
left join pg_catalog.pg_class c on c.oid = k.conrelid
left join pg_catalog.pg_type ty on ty.oid = k.contypid
where k.contype <> 'n' and k.connamespace = any(%(schemas)s::oid[])
  and (k.conrelid <> 0 or k.contypid <> 0)
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.objid = k.conrelid and d.deptype = 'e');
