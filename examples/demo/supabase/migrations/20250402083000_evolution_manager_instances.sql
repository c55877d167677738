-- evolution-manager: WhatsApp instances (Evolution API) of each company.
--
-- Any member sees the instances of the company; only owners and admins may
-- create, reconfigure or remove them. The Evolution API key itself is kept in
-- Vault by evolution-manager and never stored in this table.

create table if not exists public.evolution_instances (
  id             uuid primary key default gen_random_uuid(),
  company_id     uuid not null references core.companies (id) on delete cascade,
  instance_name  text not null unique check (instance_name ~ '^[a-z0-9][a-z0-9_-]*$'),
  phone_number   text,
  status         text not null default 'close' check (status in ('open', 'connecting', 'close')),
  webhook_url    text,
  connected_at   timestamptz,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now()
);

create index if not exists evolution_instances_company_id_idx on public.evolution_instances (company_id);

create trigger set_updated_at before update on public.evolution_instances
  for each row execute function core.set_updated_at();

alter table public.evolution_instances enable row level security;

revoke all on table public.evolution_instances from anon, authenticated;
grant select, insert, update, delete on table public.evolution_instances to authenticated;
grant all on table public.evolution_instances to service_role;

create policy "Tenant members can view WhatsApp instances"
  on public.evolution_instances for select
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Owners and admins can create WhatsApp instances"
  on public.evolution_instances for insert
  to authenticated
  with check (
    company_id = (select auth.jwt() ->> 'company_id')::uuid
    and (select core.current_company_role()) in ('owner', 'admin')
  );

create policy "Owners and admins can update WhatsApp instances"
  on public.evolution_instances for update
  to authenticated
  using (
    company_id = (select auth.jwt() ->> 'company_id')::uuid
    and (select core.current_company_role()) in ('owner', 'admin')
  )
  with check (
    company_id = (select auth.jwt() ->> 'company_id')::uuid
    and (select core.current_company_role()) in ('owner', 'admin')
  );

create policy "Owners and admins can delete WhatsApp instances"
  on public.evolution_instances for delete
  to authenticated
  using (
    company_id = (select auth.jwt() ->> 'company_id')::uuid
    and (select core.current_company_role()) in ('owner', 'admin')
  );
