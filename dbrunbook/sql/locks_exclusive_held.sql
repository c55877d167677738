-- locks.exclusive_lock_held: ACCESS EXCLUSIVE locks *granted* to other sessions on user relations of
-- this database, waiters or not, with the age of the holder's transaction (pg_locks does not say
-- when a granted lock was taken: the transaction's age is the upper bound). Catalog views only.
select l.pid,
       n.nspname as schema_name,
       c.relname as relation_name,
       coalesce(a.application_name, '') as application_name,
       a.usename,
       a.state,
       extract(epoch from (pg_catalog.clock_timestamp() - a.xact_start))::float8 as xact_age_s,
       left(a.query, 2000) as query,
       (select count(*) from pg_catalog.pg_locks as w
        where w.locktype = 'relation' and w.relation = l.relation and w.database = l.database
          and not w.granted)::int as waiting
from pg_catalog.pg_locks as l
join pg_catalog.pg_class as c on c.oid = l.relation
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
left join pg_catalog.pg_stat_activity as a on a.pid = l.pid
where l.locktype = 'relation'
  and l.mode = 'AccessExclusiveLock'
  and l.granted
  and l.pid is distinct from pg_catalog.pg_backend_pid()
  and l.database = (select d.oid from pg_catalog.pg_database as d where d.datname = pg_catalog.current_database())
  and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
  and n.nspname !~ '^pg_(toast_)?temp_'
order by xact_age_s desc nulls last, 2, 3
