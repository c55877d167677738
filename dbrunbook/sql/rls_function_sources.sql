-- Source of the given functions (schema.name), every overload: what a tenancy helper reads.
-- Params: %(functions)s text[]
select n.nspname || '.' || p.proname as function,
       p.prosecdef as security_definer,
       p.prosrc as source
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where n.nspname || '.' || p.proname = any (%(functions)s::text[])
order by 1;
