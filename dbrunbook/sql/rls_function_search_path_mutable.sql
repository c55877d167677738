-- Functions in exposed schemas, and SECURITY DEFINER functions anywhere in user schemas, without a pinned search_path (splinter 0011 shape).
-- Params: %(schemas)s text[]
select 'rls_function_search_path_mutable' as name,
       'Function search_path mutable' as title,
       'WARN' as level,
       array['SECURITY'] as categories,
       format('Function `%%s.%%s(%%s)`%%s has no search_path setting: a caller''s search_path can swap the objects it uses',
              n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid),
              case when p.prosecdef then ' (SECURITY DEFINER)' else '' end) as detail,
       format('alter function %%I.%%I(%%s) set search_path = '''';', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', p.proname, 'type', 'function') as metadata,
       format('rls_function_search_path_mutable_%%s_%%s_%%s', n.nspname, p.proname, md5(pg_catalog.pg_get_function_identity_arguments(p.oid))) as cache_key
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where (n.nspname = any (%(schemas)s::text[])
       or (p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema', 'auth', 'storage', 'realtime', '_realtime',
           'extensions', 'graphql', 'graphql_public', 'vault', 'pgsodium', 'pgsodium_masks', 'cron', 'net',
           'supabase_functions', 'pgbouncer', 'supabase_migrations', 'pgtle', 'pg_toast')))
  and not exists (select 1 from unnest(p.proconfig) cfg where cfg like 'search_path=%%')
  and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
  and p.prokind in ('f', 'p')
order by 1;
