-- The contracted relations as the database has them: kind and column names (contract validation).
-- Params: %(names)s text[] of schema.table
select x.name,
       c.relkind::text as kind,
       coalesce(array(select a.attname::text from pg_catalog.pg_attribute a
                      where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '{}') as columns
from unnest(%(names)s::text[]) as x(name)
left join pg_catalog.pg_namespace n on n.nspname = split_part(x.name, '.', 1)
left join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = substr(x.name, strpos(x.name, '.') + 1)
order by 1;
