-- Columns of the tables and views in the given schemas, with their type and primary-key flag.
-- Params: %(schemas)s text[]
select n.nspname || '.' || c.relname as "table",
       a.attname as "column",
       pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
       coalesce(a.attnum = any (i.indkey), false) as primary_key
from pg_catalog.pg_attribute a
join pg_catalog.pg_class c on c.oid = a.attrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
where n.nspname = any (%(schemas)s::text[]) and c.relkind in ('r', 'p', 'v', 'm')
  and a.attnum > 0 and not a.attisdropped
order by 1, a.attnum;
