-- catalog_cron_jobs: pg_cron jobs (run only when cron.job exists); the database name is left out
-- because a cloned or renamed database would otherwise always drift.
select coalesce(j.jobname, 'jobid ' || j.jobid) as name, j.schedule, j.command, j.username, j.active
from cron.job j;
