-- Activity events per project. Payload shape is enforced with pg_jsonschema,
-- old events are purged nightly by pg_cron, and failed deploys are pushed to
-- Slack through pg_net (URL kept in Vault).

create table if not exists public.events (
  id bigint generated always as identity primary key,
  project_id uuid not null references public.projects (id) on delete cascade,
  kind text not null,
  payload jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  constraint events_payload_is_valid check (
    extensions.jsonb_matches_schema(
      '{
        "type": "object",
        "properties": {
          "actor": {"type": "string"},
          "message": {"type": "string"},
          "severity": {"type": "string", "enum": ["info", "warning", "error"]}
        },
        "required": ["severity"],
        "additionalProperties": true
      }',
      payload
    )
  )
);
create index if not exists events_project_id_created_at_idx on public.events (project_id, created_at desc);

alter table public.events enable row level security;

create policy "Org members can view project events" on public.events
  for select to authenticated
  using (
    project_id in (
      select p.id from public.projects p
      where p.org_id in (select private.user_org_ids())
    )
  );
-- events are written by the backend (service role) only
grant select on public.events to authenticated;
grant all on public.events to service_role;

-- Retention: 90 days
select cron.schedule(
  'purge-old-events',
  '0 3 * * *',
  $$delete from public.events where created_at < now() - interval '90 days'$$
);

-- Slack notification ---------------------------------------------------------

select vault.create_secret(
  'https://hooks.slack.example/services/T0000/B0000/not-a-real-token',
  'slack_webhook_url',
  'Incoming webhook for #deploys'
);

create or replace function private.notify_slack_on_error()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  webhook_url text;
begin
  select decrypted_secret into webhook_url
  from vault.decrypted_secrets
  where name = 'slack_webhook_url';

  if webhook_url is not null then
    perform net.http_post(
      url := webhook_url,
      body := jsonb_build_object(
        'text', format('[%s] %s', new.kind, coalesce(new.payload ->> 'message', '(no message)'))
      ),
      headers := '{"Content-Type": "application/json"}'::jsonb
    );
  end if;
  return new;
end;
$$;

revoke execute on function private.notify_slack_on_error() from public, anon, authenticated;

create trigger notify_slack_on_error
  after insert on public.events
  for each row
  when (new.payload ->> 'severity' = 'error')
  execute function private.notify_slack_on_error();
