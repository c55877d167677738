-- history_versions_bare: a history table created by an old CLI (version only).
select m.version, '' as name, null::text[] as statements
from supabase_migrations.schema_migrations m
order by m.version;
