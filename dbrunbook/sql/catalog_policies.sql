-- catalog_policies: RLS policies on user tables, and on storage.* / realtime.* tables, whose
-- policies are written by the project (Supabase ships none there). Policies an extension creates
-- (pg_cron's on cron.job) are extension members and left out.
select n.nspname as schema, c.relname as relation, p.polname as name,
       case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE'
         else 'ALL' end as command,
       case when p.polpermissive then 'PERMISSIVE' else 'RESTRICTIVE' end as mode,
       (select pg_catalog.array_agg(r order by r) from (
          select case when x = 0 then 'public' else pg_catalog.pg_get_userbyid(x) end as r
          from pg_catalog.unnest(p.polroles) x) s) as roles,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) as using_expr,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) as check_expr
from pg_catalog.pg_policy p
join pg_catalog.pg_class c on c.oid = p.polrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where (c.relnamespace = any(%(schemas)s::oid[]) or n.nspname in ('storage', 'realtime'))
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass
                  and d.objid = p.oid and d.deptype = 'e');
