-- Head of the Supabase CLI migration history (supabase_migrations.schema_migrations); the caller checks
-- that the table exists first (to_regclass), so a project without it is tolerated.
select m.version, pg_catalog.to_jsonb(m) ->> 'name' as name  -- name is absent in old CLI histories
from supabase_migrations.schema_migrations m
order by m.version desc
limit 5;
