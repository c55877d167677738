-- facebook-capi: Conversions API events queued for Meta.
--
-- facebook-capi writes and updates these rows with the service role; users of
-- the tenant may read them (marketing dashboard) but never write them.

create table if not exists public.capi_events (
  id               bigint generated always as identity primary key,
  company_id       uuid not null references core.companies (id) on delete cascade,
  pixel_id         text not null,
  event_name       text not null check (event_name in ('Lead', 'Contact', 'Purchase', 'CompleteRegistration', 'Schedule')),
  event_id         text not null,           -- deduplication key sent to Meta
  event_time       timestamptz not null default now(),
  action_source    text not null default 'system_generated',
  payload          jsonb not null default '{}'::jsonb,
  status           text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
  attempts         smallint not null default 0,
  sent_at          timestamptz,
  created_at       timestamptz not null default now(),
  unique (company_id, pixel_id, event_id)
);

create index if not exists capi_events_company_id_idx on public.capi_events (company_id, event_time desc);
create index if not exists capi_events_pending_idx on public.capi_events (created_at) where status = 'pending';

alter table public.capi_events enable row level security;

revoke all on table public.capi_events from anon, authenticated;
grant select on table public.capi_events to authenticated;
grant all on table public.capi_events to service_role;

create policy "Tenant members can view CAPI events"
  on public.capi_events for select
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);
