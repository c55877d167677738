-- Attributes of the login roles the services use (bypass audit). Params: %(roles)s text[]
select r.rolname as role, r.rolsuper as superuser, r.rolbypassrls as bypassrls, r.rolcanlogin as can_login
from pg_catalog.pg_roles r
where r.rolname = any (%(roles)s::text[])
order by 1;
