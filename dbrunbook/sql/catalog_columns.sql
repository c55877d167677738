-- catalog_columns: columns of user tables, views and materialized views.
select n.nspname as schema, c.relname as relation, a.attname as name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null,
       case when a.attgenerated = '' then pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) end as "default",
       case a.attidentity when 'a' then 'always' when 'd' then 'by default' end as identity,
       case when a.attgenerated <> '' then pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) end as generated,
       case when a.attcollation <> t.typcollation then co.collname end as collation
from pg_catalog.pg_attribute a
join pg_catalog.pg_class c on c.oid = a.attrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_type t on t.oid = a.atttypid
left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
left join pg_catalog.pg_collation co on co.oid = a.attcollation
where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p', 'f', 'v', 'm')
  and c.relnamespace = any(%(schemas)s::oid[])
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.objid = c.oid and d.deptype = 'e');
