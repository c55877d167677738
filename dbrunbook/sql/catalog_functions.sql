-- catalog_functions: functions, procedures and aggregates of user schemas (extension members and
-- objects owned by the platform's supabase_admin excluded). The body is compared by fingerprint.
select n.nspname as schema, p.proname as name, pg_catalog.pg_get_function_identity_arguments(p.oid) as args,
       case p.prokind when 'f' then 'function' when 'p' then 'procedure' when 'a' then 'aggregate'
         when 'w' then 'window' end as kind,
       pg_catalog.pg_get_function_result(p.oid) as returns, l.lanname as language,
       case p.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end as volatility,
       p.prosecdef as security_definer, p.proleakproof as leakproof, p.proisstrict as strict,
       case p.proparallel when 's' then 'safe' when 'r' then 'restricted' else 'unsafe' end as parallel,
       coalesce((select pg_catalog.array_agg(x order by x) from pg_catalog.unnest(p.proconfig) x), '{}') as config,
       p.prosrc as source,
       case when p.prosrc = '' or p.prosrc is null then pg_catalog.pg_get_functiondef(p.oid) end as sql_body
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_language l on l.oid = p.prolang
where p.pronamespace = any(%(schemas)s::oid[])
  and pg_catalog.pg_get_userbyid(p.proowner) <> 'supabase_admin'
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                  and d.objid = p.oid and d.deptype = 'e');
