-- pool.service_ready: which server answers on a service's URL, in its own words (not the host string
-- the URL uses); its slots come from connections_usage.sql in the same transaction.
-- pg_control_system() only when we may call it: a permission error would leave an ERROR line in the
-- server log.
select pg_catalog.host(pg_catalog.inet_server_addr()) as addr,
       pg_catalog.inet_server_port() as port,
       pg_catalog.pg_postmaster_start_time()::text as started,
       case when pg_catalog.has_function_privilege('pg_catalog.pg_control_system()', 'execute')
            then (select s.system_identifier::text from pg_catalog.pg_control_system() as s) end
         as system_identifier
