-- Server version and the settings that matter during a lock/connection incident.
select s.name, s.setting, s.unit
from pg_catalog.pg_settings s
where s.name in ('server_version', 'max_connections', 'superuser_reserved_connections', 'reserved_connections',
                 'max_prepared_transactions', 'statement_timeout', 'lock_timeout',
                 'idle_in_transaction_session_timeout', 'idle_session_timeout', 'deadlock_timeout',
                 'log_lock_waits', 'log_min_duration_statement', 'shared_buffers', 'work_mem',
                 'maintenance_work_mem', 'default_transaction_read_only', 'track_activities')
order by s.name;
