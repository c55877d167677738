-- Client connections grouped by application_name, role and state (who holds the slots).
select coalesce(nullif(a.application_name, ''), '(none)') as application_name,
       coalesce(a.usename::text, '(none)') as usename,
       coalesce(a.state, '(none)') as state,
       count(*)::int as connections
from pg_catalog.pg_stat_activity a
where a.backend_type = 'client backend'
group by 1, 2, 3
order by 4 desc, 1, 2, 3;
