-- catalog_sequences: sequences of user schemas and the column that owns them.
select n.nspname as schema, c.relname as name, pg_catalog.format_type(s.seqtypid, null) as type,
       s.seqstart as start, s.seqincrement as increment, s.seqmin as min, s.seqmax as max,
       s.seqcache as cache, s.seqcycle as cycle,
       (select tn.nspname || '.' || tc.relname || '.' || a.attname
        from pg_catalog.pg_depend d
        join pg_catalog.pg_class tc on tc.oid = d.refobjid
        join pg_catalog.pg_namespace tn on tn.oid = tc.relnamespace
        join pg_catalog.pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
        where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid
          and d.deptype in ('a', 'i') limit 1) as owned_by
from pg_catalog.pg_sequence s
join pg_catalog.pg_class c on c.oid = s.seqrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relnamespace = any(%(schemas)s::oid[])
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.objid = c.oid and d.deptype = 'e');
