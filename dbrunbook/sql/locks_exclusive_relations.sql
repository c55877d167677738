-- Relations another session holds or waits for in ACCESS EXCLUSIVE mode (a migration's DDL, LOCK TABLE),
-- plus the views reading them (recursively). Reading any of these, even through catalog deparse
-- functions such as pg_get_expr() behind pg_policies, would queue behind that lock: probes skip them
-- instead of waiting (dbrunbook/lockguard.py).
with recursive locked as (
    select l.relation as relid, l.pid
    from pg_catalog.pg_locks as l
    where l.locktype = 'relation'
      and l.mode = 'AccessExclusiveLock'
      and l.pid is distinct from pg_catalog.pg_backend_pid()
      and l.database = (select d.oid from pg_catalog.pg_database as d
                        where d.datname = pg_catalog.current_database())
), affected as (
    select relid, pid from locked
    union
    select r.ev_class, a.pid
    from affected as a
    join pg_catalog.pg_depend as dep
      on dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass and dep.refobjid = a.relid
     and dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
    join pg_catalog.pg_rewrite as r on r.oid = dep.objid
    where r.ev_class <> a.relid
)
select n.nspname as schema_name, c.relname as relation_name, a.pid
from affected as a
join pg_catalog.pg_class as c on c.oid = a.relid
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
order by 1, 2, 3
