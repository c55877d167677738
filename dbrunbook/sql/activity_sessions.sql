-- Client sessions of the whole cluster (connections are a cluster-wide resource), without dbrunbook's
-- own probe sessions. Ages in seconds; the query text is truncated here and redacted by the caller.
select a.pid,
       a.datname,
       coalesce(a.application_name, '') as application_name,
       a.usename,
       coalesce(pg_catalog.host(a.client_addr), 'local') as client,
       a.state,
       a.wait_event_type,
       a.wait_event,
       extract(epoch from (pg_catalog.clock_timestamp() - a.xact_start))::float8 as xact_age_s,
       extract(epoch from (pg_catalog.clock_timestamp() - a.query_start))::float8 as query_age_s,
       extract(epoch from (pg_catalog.clock_timestamp() - a.state_change))::float8 as state_age_s,
       pg_catalog.age(a.backend_xmin)::int8 as xmin_age,
       a.backend_xid::text as backend_xid,
       pg_catalog.left(a.query, 2000) as query
from pg_catalog.pg_stat_activity a
where a.backend_type = 'client backend'
  and a.pid <> pg_catalog.pg_backend_pid()
  and coalesce(a.application_name, '') not like 'dbrunbook%'
order by a.pid;
