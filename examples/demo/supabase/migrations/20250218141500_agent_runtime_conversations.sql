-- agent-runtime: conversations, messages and agent runs.
--
-- Human agents read and answer conversations of their company through the
-- Data API. agent_runs are written only by agent-runtime itself, which talks
-- to the database with the service role (asyncpg pool / service key), so
-- authenticated users get SELECT only.

create table if not exists public.conversations (
  id               uuid primary key default gen_random_uuid(),
  company_id       uuid not null references core.companies (id) on delete cascade,
  contact_id       uuid,
  channel          text not null default 'whatsapp' check (channel in ('whatsapp', 'web', 'instagram')),
  status           text not null default 'open' check (status in ('open', 'pending', 'closed')),
  assigned_to      uuid references auth.users (id) on delete set null,
  last_message_at  timestamptz,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  unique (id, company_id),
  foreign key (contact_id, company_id) references public.contacts (id, company_id) on delete cascade
);

create table if not exists public.messages (
  id               bigint generated always as identity primary key,
  company_id       uuid not null references core.companies (id) on delete cascade,
  conversation_id  uuid not null,
  direction        text not null check (direction in ('inbound', 'outbound')),
  sender           text not null check (sender in ('contact', 'agent', 'bot')),
  body             text not null,
  created_at       timestamptz not null default now(),
  foreign key (conversation_id, company_id) references public.conversations (id, company_id) on delete cascade
);

create table if not exists public.agent_runs (
  id               uuid primary key default gen_random_uuid(),
  company_id       uuid not null references core.companies (id) on delete cascade,
  conversation_id  uuid not null,
  agent            text not null,
  model            text not null,
  status           text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed')),
  input_tokens     integer not null default 0 check (input_tokens >= 0),
  output_tokens    integer not null default 0 check (output_tokens >= 0),
  error            text,
  started_at       timestamptz,
  finished_at      timestamptz,
  created_at       timestamptz not null default now(),
  foreign key (conversation_id, company_id) references public.conversations (id, company_id) on delete cascade
);

create index if not exists conversations_company_id_idx on public.conversations (company_id);
create index if not exists conversations_contact_id_idx on public.conversations (contact_id, company_id);
create index if not exists conversations_assigned_to_idx on public.conversations (assigned_to);
create index if not exists conversations_company_status_idx on public.conversations (company_id, status, last_message_at desc);
create index if not exists messages_company_id_idx on public.messages (company_id);
create index if not exists messages_conversation_id_idx on public.messages (conversation_id, company_id, created_at);
create index if not exists agent_runs_company_id_idx on public.agent_runs (company_id);
create index if not exists agent_runs_conversation_id_idx on public.agent_runs (conversation_id, company_id);

create trigger set_updated_at before update on public.conversations
  for each row execute function core.set_updated_at();

alter table public.conversations enable row level security;
alter table public.messages      enable row level security;
alter table public.agent_runs    enable row level security;

revoke all on table public.conversations, public.messages, public.agent_runs from anon, authenticated;
grant select, insert, update on table public.conversations to authenticated;
grant select, insert on table public.messages to authenticated;   -- messages are immutable
grant select on table public.agent_runs to authenticated;          -- written by agent-runtime only
grant all on table public.conversations, public.messages, public.agent_runs to service_role;

-- conversations --------------------------------------------------------------------

create policy "Tenant members can view conversations"
  on public.conversations for select
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can open conversations"
  on public.conversations for insert
  to authenticated
  with check (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can update conversations"
  on public.conversations for update
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid)
  with check (company_id = (select auth.jwt() ->> 'company_id')::uuid);

-- messages -------------------------------------------------------------------------

create policy "Tenant members can view messages"
  on public.messages for select
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Agents can send messages in their company"
  on public.messages for insert
  to authenticated
  with check (
    company_id = (select auth.jwt() ->> 'company_id')::uuid
    and direction = 'outbound'
    and sender = 'agent'
  );

-- agent_runs -----------------------------------------------------------------------

create policy "Tenant members can view agent runs"
  on public.agent_runs for select
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);

-- Inbox view for the backoffice. security_invoker = true so the RLS policies
-- of the underlying tables apply to the caller, not to the view owner.
create or replace view public.conversation_overview
with (security_invoker = true)
as
select
  c.id,
  c.company_id,
  c.channel,
  c.status,
  c.assigned_to,
  ct.name          as contact_name,
  ct.whatsapp      as contact_whatsapp,
  c.last_message_at,
  (select count(*) from public.messages m where m.conversation_id = c.id) as message_count
from public.conversations c
left join public.contacts ct on ct.id = c.contact_id and ct.company_id = c.company_id;

revoke all on table public.conversation_overview from anon, authenticated;
grant select on table public.conversation_overview to authenticated, service_role;

-- The inbox listens for new messages through Realtime (postgres_changes).
alter publication supabase_realtime add table public.messages;
