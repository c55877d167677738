-- SECURITY DEFINER functions in exposed schemas that anon or authenticated can call through /rpc.
-- Params: %(schemas)s text[]
select 'rls_security_definer_function_executable' as name,
       'SECURITY DEFINER function callable by the API roles' as title,
       'WARN' as level,
       array['SECURITY'] as categories,
       format('Function `%%s.%%s(%%s)` runs as %%s (SECURITY DEFINER, RLS of its owner) and %%s can call it through /rest/v1/rpc',
              n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid), pg_catalog.pg_get_userbyid(p.proowner),
              concat_ws(' and ', case when pg_catalog.has_function_privilege('anon', p.oid, 'EXECUTE') then 'anon' end,
                        case when pg_catalog.has_function_privilege('authenticated', p.oid, 'EXECUTE') then 'authenticated' end)) as detail,
       format('move it to a schema the API does not expose (e.g. private), or: revoke execute on function %%I.%%I(%%s) from anon, authenticated, public;',
              n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as remediation,
       jsonb_build_object('schema', n.nspname, 'name', p.proname, 'type', 'function') as metadata,
       format('rls_security_definer_function_executable_%%s_%%s_%%s', n.nspname, p.proname, md5(pg_catalog.pg_get_function_identity_arguments(p.oid))) as cache_key
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where p.prosecdef and n.nspname = any (%(schemas)s::text[])
  and p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype
  and (pg_catalog.has_function_privilege('anon', p.oid, 'EXECUTE') or pg_catalog.has_function_privilege('authenticated', p.oid, 'EXECUTE'))
  and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
order by 1;
