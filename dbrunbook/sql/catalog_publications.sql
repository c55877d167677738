-- catalog_publications: publications (supabase_realtime and the project's), actions and tables.
select p.pubname as name, p.puballtables as all_tables,
       array_remove(array[case when p.pubinsert then 'insert' end, case when p.pubupdate then 'update' end,
                          case when p.pubdelete then 'delete' end, case when p.pubtruncate then 'truncate' end],
                    null) as actions,
       coalesce((select pg_catalog.array_agg(pt.schemaname || '.' || pt.tablename
                                             order by pt.schemaname, pt.tablename)
                 from pg_catalog.pg_publication_tables pt where pt.pubname = p.pubname and not p.puballtables),
                '{}') as tables
from pg_catalog.pg_publication p;
