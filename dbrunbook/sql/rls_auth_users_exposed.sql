-- auth.users reachable through the Data API: the auth schema exposed, or an exposed view over it (splinter 0002 shape).
-- Params: %(schemas)s text[]
select 'rls_auth_users_exposed' as name,
       'auth.users exposed' as title,
       'ERROR' as level,
       array['SECURITY'] as categories,
       format('View `%%s.%%s` reads auth.users and anon/authenticated can select it: emails and metadata of every user of every tenant',
              n.nspname, c.relname) as detail,
       format('drop view %%I.%%I; or move it out of the exposed schemas, or make it security_invoker and filter on auth.uid()', n.nspname, c.relname) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'view') as metadata,
       format('rls_auth_users_exposed_%%s_%%s', n.nspname, c.relname) as cache_key
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('v', 'm') and n.nspname = any (%(schemas)s::text[])
  and ((pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE') and pg_catalog.has_table_privilege('anon', c.oid, 'SELECT')) or (pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE') and pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT')))
  and exists (select 1 from pg_catalog.pg_rewrite rw join pg_catalog.pg_depend d on d.objid = rw.oid
              where rw.ev_class = c.oid and d.refobjid = 'auth.users'::regclass)
union all
select 'rls_auth_users_exposed', 'auth.users exposed', 'ERROR', array['SECURITY'],
       'Schema `auth` is in the exposed schemas: auth.users is served by the Data API',
       'remove auth from [api] schemas (pgrst.db_schemas)', jsonb_build_object('schema', 'auth', 'type', 'schema'),
       'rls_auth_users_exposed_auth'
where 'auth' = any (%(schemas)s::text[])
order by 1;
