-- catalog_role_settings: ALTER ROLE ... SET of the API roles (PostgREST's authenticator and the
-- roles it switches to), everywhere and in this database.
select r.rolname as role, case when s.setdatabase = 0 then '(all databases)' else 'this database' end as scope,
       pg_catalog.split_part(c, '=', 1) as setting, pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1) as value
from pg_catalog.pg_db_role_setting s
join pg_catalog.pg_roles r on r.oid = s.setrole
cross join pg_catalog.unnest(s.setconfig) c
where r.rolname in ('anon', 'authenticated', 'service_role', 'authenticator')
  and (s.setdatabase = 0 or s.setdatabase = (select d.oid from pg_catalog.pg_database d
                                             where d.datname = pg_catalog.current_database()));
