-- Tables, views and materialized views in the exposed schemas (PostgREST db_schemas), with what
-- the RLS checks need: RLS flags, owner, tenant column, API-role privileges, reachability.
-- "reachable": anon or authenticated holds a table privilege AND usage on the schema (without USAGE
-- PostgREST answers 42501 whatever the table grants say).
-- Params: %(schemas)s text[], %(tenant_columns)s text[] (the contract's, or the usual names without one),
--         %(tenant_tables)s text[] (tables the contract says hold tenant rows)
select n.nspname as schema,
       c.relname as name,
       n.nspname || '.' || c.relname as qualified,
       c.relkind::text as kind,
       c.relrowsecurity as rls_enabled,
       c.relforcerowsecurity as rls_forced,
       pg_catalog.pg_get_userbyid(c.relowner) as owner,
       exists (select 1 from pg_catalog.pg_attribute a
               where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                 and a.attname = any (%(tenant_columns)s::text[])) as has_tenant_column,
       (n.nspname || '.' || c.relname = any (%(tenant_tables)s::text[])
        or exists (select 1 from pg_catalog.pg_attribute a
                   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                     and a.attname = any (%(tenant_columns)s::text[]))) as tenant_table,
       ((pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE')
         and pg_catalog.has_table_privilege('anon', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))
        or (pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE')
            and pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT,INSERT,UPDATE,DELETE'))) as reachable,
       exists (select 1 from unnest(c.reloptions) o
               where lower(o) in ('security_invoker=true', 'security_invoker=on', 'security_invoker=1',
                                  'security_invoker=yes')) as security_invoker,
       array(select p from unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p
             where pg_catalog.has_table_privilege('anon', c.oid, p)) as anon_privileges,
       array(select p from unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p
             where pg_catalog.has_table_privilege('authenticated', c.oid, p)) as authenticated_privileges,
       pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE') as anon_schema_usage,
       pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE') as authenticated_schema_usage
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where n.nspname = any (%(schemas)s::text[])
  and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and not c.relispartition
order by 1, 2;
