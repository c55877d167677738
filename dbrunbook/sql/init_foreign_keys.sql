-- Single-column foreign keys of every user table (not system or Supabase-internal schemas), auth.users
-- included as a target: how contract init finds a table's path to its tenant (or to its user).
select n.nspname || '.' || c.relname as "table",
       a.attname as "column",
       rn.nspname || '.' || rc.relname as ref_table,
       ra.attname as ref_column
from pg_catalog.pg_constraint k
join pg_catalog.pg_class c on c.oid = k.conrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_class rc on rc.oid = k.confrelid
join pg_catalog.pg_namespace rn on rn.oid = rc.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
join pg_catalog.pg_attribute ra on ra.attrelid = k.confrelid and ra.attnum = k.confkey[1]
where k.contype = 'f' and array_length(k.conkey, 1) = 1
  and n.nspname not in ('pg_catalog', 'information_schema', 'auth', 'storage', 'realtime', 'vault', 'pgsodium',
                        'supabase_functions', 'supabase_migrations', 'net', 'cron', 'graphql')
order by 1, 2;
