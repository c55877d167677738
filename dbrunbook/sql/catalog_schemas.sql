-- catalog_schemas: every schema with `managed` = Supabase/PostgreSQL internals (the exclusion RULE,
-- docs/checks/drift.md): pg_* and information_schema; the platform's schemas (auth, storage,
-- realtime, _realtime, supabase_functions, supabase_migrations, extensions, graphql, graphql_public,
-- vault, pgsodium, pgsodium_masks, net, cron, pgbouncer, pgtle, _analytics, topology) and any
-- supabase_* schema; and schemas created by an extension (pg_depend deptype 'e').
select n.oid::bigint as oid, n.nspname as name, pg_catalog.pg_get_userbyid(n.nspowner) as owner,
       (n.nspname like 'pg\_%' or n.nspname = 'information_schema'
        or n.nspname in ('auth', 'storage', 'realtime', '_realtime', 'supabase_functions', 'supabase_migrations',
                         'extensions', 'graphql', 'graphql_public', 'vault', 'pgsodium', 'pgsodium_masks', 'net',
                         'cron', 'pgbouncer', 'pgtle', '_analytics', 'topology')
        or n.nspname like 'supabase\_%'
        or exists (select 1 from pg_catalog.pg_depend d
                   where d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass and d.objid = n.oid
                     and d.deptype = 'e')) as managed
from pg_catalog.pg_namespace n
order by n.nspname;
