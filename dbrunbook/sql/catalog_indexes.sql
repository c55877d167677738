-- catalog_indexes: indexes on user tables and materialized views.
select n.nspname as schema, ic.relname as name, t.relname as relation,
       pg_catalog.pg_get_indexdef(i.indexrelid) as definition, i.indisvalid as valid
from pg_catalog.pg_index i
join pg_catalog.pg_class ic on ic.oid = i.indexrelid
join pg_catalog.pg_class t on t.oid = i.indrelid
join pg_catalog.pg_namespace n on n.oid = ic.relnamespace
where ic.relnamespace = any(%(schemas)s::oid[])
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.objid = t.oid and d.deptype = 'e');
