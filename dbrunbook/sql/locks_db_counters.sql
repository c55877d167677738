-- Counters of the current database that say locks went wrong: deadlocks (PostgreSQL has no lock-timeout
-- counter; lock timeouts only reach the server log), recovery conflicts (standbys), sessions killed or
-- ended by a fatal error (14+), rollbacks.
select d.datname,
       d.deadlocks::int8 as deadlocks,
       d.conflicts::int8 as conflicts,
       d.sessions_killed::int8 as sessions_killed,
       d.sessions_fatal::int8 as sessions_fatal,
       d.sessions_abandoned::int8 as sessions_abandoned,
       d.xact_commit::int8 as xact_commit,
       d.xact_rollback::int8 as xact_rollback,
       d.temp_files::int8 as temp_files,
       d.stats_reset
from pg_catalog.pg_stat_database d
where d.datname = pg_catalog.current_database();
