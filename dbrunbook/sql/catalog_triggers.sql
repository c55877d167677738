-- catalog_triggers: user triggers on user tables, and on Supabase-managed tables (auth.users,
-- storage.objects) when the trigger function is the project's (lives in a user schema).
select n.nspname as schema, c.relname as relation, t.tgname as name,
       pg_catalog.pg_get_triggerdef(t.oid, true) as definition,
       case t.tgenabled when 'O' then 'origin' when 'D' then 'disabled' when 'R' then 'replica'
         when 'A' then 'always' end as enabled,
       fn.nspname || '.' || p.proname as function
from pg_catalog.pg_trigger t
join pg_catalog.pg_class c on c.oid = t.tgrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_proc p on p.oid = t.tgfoid
join pg_catalog.pg_namespace fn on fn.oid = p.pronamespace
where not t.tgisinternal
  and (c.relnamespace = any(%(schemas)s::oid[]) or p.pronamespace = any(%(schemas)s::oid[]))
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.objid = c.oid and d.deptype = 'e');
