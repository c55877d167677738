-- Policies of the given tables that apply to the API roles, with their text (rls structure checks).
-- Params: %(tables)s text[] (schema.table)
select n.nspname || '.' || c.relname as qualified,
       p.polname as policy,
       p.polpermissive as permissive,
       case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end as command,
       coalesce((select array_agg(case r when 0 then 'public' else pg_catalog.pg_get_userbyid(r) end)
                 from unnest(p.polroles) r), array['public']) as roles,
       coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') as using_expr,
       coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '') as check_expr
from pg_catalog.pg_policy p
join pg_catalog.pg_class c on c.oid = p.polrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where n.nspname || '.' || c.relname = any (%(tables)s::text[])
order by 1, 2;
