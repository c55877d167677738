-- pg_locks as the runbook's query shows it (locktype, relation, mode, granted, pid), with schema-qualified
-- relation names resolved from the catalog (no lock is taken on the relations themselves). Capped.
select l.locktype,
       l.database,
       coalesce((select pg_catalog.format('%I.%I', n.nspname, c.relname)
                 from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                 where c.oid = l.relation), l.relation::text) as relation,
       l.mode,
       l.granted,
       l.pid,
       l.transactionid::text as transactionid,
       l.virtualtransaction,
       extract(epoch from (pg_catalog.clock_timestamp() - l.waitstart))::float8 as wait_s
from pg_catalog.pg_locks l
where l.pid is distinct from pg_catalog.pg_backend_pid()
order by l.granted, l.pid
limit 2000;
