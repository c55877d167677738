-- Functions outside the system and extension schemas: name, SECURITY DEFINER flag, source (what
-- contract init reads to find tenancy helpers), and the triggers on auth.users that call them.
select n.nspname || '.' || p.proname as function,
       p.prosecdef as security_definer,
       p.prosrc as source,
       array(select t.tgname::text from pg_catalog.pg_trigger t
             where t.tgfoid = p.oid and t.tgrelid = 'auth.users'::regclass and not t.tgisinternal) as auth_user_triggers
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where n.nspname not in ('pg_catalog', 'information_schema', 'extensions', 'auth', 'storage', 'realtime',
                        'graphql', 'graphql_public', 'vault', 'pgsodium', 'net', 'cron', 'supabase_functions',
                        'supabase_migrations', 'pgbouncer', 'pgtle', 'pgmq')
  and p.prolang <> (select oid from pg_catalog.pg_language where lanname = 'c')
  and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
order by 1;
