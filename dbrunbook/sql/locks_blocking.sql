-- Blocking edges, one row per (waiter, blocker) pair from pg_catalog.pg_blocking_pids(), with the lock the
-- waiter wants and the modes the blocker holds (or is queued for) on the same lockable object.
-- Covers relation locks (DDL, LOCK TABLE, migrations), row locks (tuple + transactionid waits) and
-- advisory locks. Reads catalog/statistics views only: it never touches a user table, so it cannot
-- queue behind the locks it reports.
with relnames as (
    select c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) as name
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
),
waiting as (
    select l.pid, l.locktype, l.mode, l.database, l.relation, l.page, l.tuple, l.virtualxid,
           l.transactionid, l.classid, l.objid, l.objsubid, l.waitstart
    from pg_catalog.pg_locks l
    where not l.granted and l.pid is not null
),
edges as (
    select w.*, b.blocker
    from waiting w
    cross join lateral pg_catalog.unnest(pg_catalog.pg_blocking_pids(w.pid)) as b(blocker)
),
same_object as (
    select e.pid as waiter, e.blocker, h.mode, h.granted
    from edges e
    join pg_catalog.pg_locks h
      on h.pid = e.blocker and h.locktype = e.locktype
     and h.database is not distinct from e.database and h.relation is not distinct from e.relation
     and h.page is not distinct from e.page and h.tuple is not distinct from e.tuple
     and h.virtualxid is not distinct from e.virtualxid and h.transactionid is not distinct from e.transactionid
     and h.classid is not distinct from e.classid and h.objid is not distinct from e.objid
     and h.objsubid is not distinct from e.objsubid
)
select e.pid as waiter,
       e.blocker,
       e.locktype,
       e.mode as wanted_mode,
       coalesce((select r.name from relnames r where r.oid = e.relation), e.relation::text,
                (select coalesce(r.name, t.relation::text) from pg_catalog.pg_locks t
                 left join relnames r on r.oid = t.relation
                 where t.pid = e.pid and t.granted and t.locktype = 'tuple' limit 1)) as relation,
       e.transactionid::text as transactionid,
       case when e.locktype = 'advisory'
            then ((e.classid::int8 << 32) | e.objid::int8)::text end as advisory_key,
       extract(epoch from (pg_catalog.clock_timestamp() - e.waitstart))::float8 as wait_s,
       (select pg_catalog.string_agg(distinct s.mode, ', ') from same_object s
        where s.waiter = e.pid and s.blocker = e.blocker and s.granted) as blocker_holds,
       (select pg_catalog.string_agg(distinct s.mode, ', ') from same_object s
        where s.waiter = e.pid and s.blocker = e.blocker and not s.granted) as blocker_queued_for
from edges e
order by e.blocker, e.pid;
