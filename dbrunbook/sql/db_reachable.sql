-- triage.db_reachable: who and what we are connected to (runbook Triage 1, `select 1`).
select pg_catalog.current_setting('server_version') as v,
       pg_catalog.current_setting('server_version_num')::int as n,
       current_user as u,
       r.rolsuper as su,
       r.rolbypassrls as br,
       pg_catalog.current_database() as db
from pg_catalog.pg_roles as r
where r.rolname = current_user
