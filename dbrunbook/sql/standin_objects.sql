-- standin_objects: what the project built on each stand-in extension (comment says "dbrunbook"):
-- columns of its types, indexes of its access methods, triggers on its functions, and webhook
-- triggers (supabase_functions.http_request, which calls pg_net). One row per object.
with standin as (
  select e.oid, e.extname
  from pg_catalog.pg_extension e
  join pg_catalog.pg_available_extensions a on a.name = e.extname
  where a.comment like '%dbrunbook%'
), member as (
  select s.extname, d.classid, d.objid
  from standin s
  join pg_catalog.pg_depend d on d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
   and d.refobjid = s.oid and d.deptype = 'e'
), user_rel as (
  select c.oid, c.relname, n.nspname, c.relkind, c.relam
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname not in ('pg_catalog', 'information_schema', 'extensions', 'net', 'cron', 'vault', 'pgsodium',
                          'graphql', 'graphql_public', 'supabase_functions', 'supabase_dbrunbook')
    and not exists (select 1 from pg_catalog.pg_depend x where x.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    and x.objid = c.oid and x.deptype = 'e')
)
select m.extname, 'column ' || r.nspname || '.' || r.relname || '.' || a.attname as object
from member m
join pg_catalog.pg_attribute a on m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass and a.atttypid = m.objid
join user_rel r on r.oid = a.attrelid and r.relkind in ('r', 'p')
where a.attnum > 0 and not a.attisdropped
union all
select m.extname, 'index ' || r.nspname || '.' || r.relname
from member m
join user_rel r on m.classid = 'pg_catalog.pg_am'::pg_catalog.regclass and r.relam = m.objid and r.relkind = 'i'
union all
select m.extname, 'trigger ' || t.tgname || ' on ' || r.nspname || '.' || r.relname
from member m
join pg_catalog.pg_trigger t on m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and t.tgfoid = m.objid
join user_rel r on r.oid = t.tgrelid
union all
select 'pg_net', 'webhook ' || t.tgname || ' on ' || r.nspname || '.' || r.relname
from pg_catalog.pg_trigger t
join user_rel r on r.oid = t.tgrelid
where t.tgfoid = pg_catalog.to_regprocedure('supabase_functions.http_request()')
  and exists (select 1 from standin where extname = 'pg_net')
order by 1, 2
limit 200;
