-- catalog_default_privileges: ALTER DEFAULT PRIVILEGES, global or in a user schema (MAINTAIN left
-- out for the reason given in catalog_privileges.sql).
select pg_catalog.pg_get_userbyid(d.defaclrole) as role, coalesce(n.nspname, '(all schemas)') as schema,
       case d.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
         when 'T' then 'types' when 'n' then 'schemas' end as object_type,
       case when x.grantee = 0 then 'public' else pg_catalog.pg_get_userbyid(x.grantee) end as grantee,
       pg_catalog.array_agg(x.privilege_type || case when x.is_grantable then ' WITH GRANT OPTION' else '' end
                            order by x.privilege_type) as privileges
from pg_catalog.pg_default_acl d
left join pg_catalog.pg_namespace n on n.oid = d.defaclnamespace
cross join pg_catalog.aclexplode(d.defaclacl) x
where (d.defaclnamespace = 0 or d.defaclnamespace = any(%(schemas)s::oid[])) and x.privilege_type <> 'MAINTAIN'
group by 1, 2, 3, 4;
