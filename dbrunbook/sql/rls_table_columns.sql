-- Columns of one relation with what a generated INSERT needs to know (rls matrix probes).
-- Params: %(schema)s, %(table)s
select a.attname as name,
       format_type(a.atttypid, a.atttypmod) as type,
       a.attnotnull as not_null,
       (a.atthasdef or a.attidentity <> '') as has_default,
       (a.attgenerated <> '') as generated,
       coalesce(a.attnum = any (i.indkey), false) as primary_key
from pg_catalog.pg_attribute a
join pg_catalog.pg_class c on c.oid = a.attrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
where n.nspname = %(schema)s and c.relname = %(table)s
  and a.attnum > 0 and not a.attisdropped
order by a.attnum;
