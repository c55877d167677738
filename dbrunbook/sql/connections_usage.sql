-- Connection slots of the cluster: max_connections minus the slots reserved for superusers
-- (superuser_reserved_connections) and, on PostgreSQL 16+, for pg_use_reserved_connections members
-- (reserved_connections; missing_ok so PostgreSQL 15 answers null). Client backends only.
select pg_catalog.current_setting('max_connections')::int as max_connections,
       pg_catalog.current_setting('superuser_reserved_connections')::int as superuser_reserved,
       coalesce(nullif(pg_catalog.current_setting('reserved_connections', true), ''), '0')::int as reserved,
       (select count(*) from pg_catalog.pg_stat_activity a
        where a.backend_type = 'client backend')::int as used,
       (select count(*) from pg_catalog.pg_stat_activity a
        where a.backend_type = 'client backend'
          and coalesce(a.application_name, '') like 'dbrunbook%')::int as ours;
