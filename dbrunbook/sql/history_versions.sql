-- history_versions: what `supabase migration list` reads, plus the recorded statements.
select m.version, coalesce(m.name, '') as name, m.statements
from supabase_migrations.schema_migrations m
order by m.version;
