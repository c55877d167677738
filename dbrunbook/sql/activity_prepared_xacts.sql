-- Two-phase transactions left prepared: they hold locks and the xmin horizon until someone commits or
-- rolls them back by gid, and they survive restarts.
select p.gid,
       p.database,
       p.owner,
       p.transaction::text as transaction,
       pg_catalog.age(p.transaction)::int8 as xid_age,
       extract(epoch from (pg_catalog.clock_timestamp() - p.prepared))::float8 as age_s,
       p.prepared
from pg_catalog.pg_prepared_xacts p
order by p.prepared;
