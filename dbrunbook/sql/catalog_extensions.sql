-- catalog_extensions: installed extensions, their schema and version (plpgsql is always there).
select e.extname as name, n.nspname as schema, e.extversion as version
from pg_catalog.pg_extension e
join pg_catalog.pg_namespace n on n.oid = e.extnamespace
where e.extname <> 'plpgsql';
