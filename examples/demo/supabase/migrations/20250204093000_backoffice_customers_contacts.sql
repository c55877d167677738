-- backoffice-api: customers and their contacts.
--
-- Pattern used by every tenant table from here on:
--   * company_id uuid not null references core.companies, indexed;
--   * RLS enabled, policies for `authenticated` that compare company_id with
--     the top-level company_id claim, read once per statement via (select ...);
--   * explicit grants: anon gets nothing, authenticated only the commands that
--     have a policy, service_role everything (it bypasses RLS). This also keeps
--     the project working when new tables are not auto-exposed (2026 default).

create table if not exists public.customers (
  id          uuid primary key default gen_random_uuid(),
  company_id  uuid not null references core.companies (id) on delete cascade,
  name        text not null,
  tax_id      text,                        -- CPF/CNPJ
  email       text,
  phone       text,
  status      text not null default 'active' check (status in ('lead', 'active', 'churned')),
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  unique (id, company_id)                  -- target of same-tenant composite foreign keys
);

create table if not exists public.contacts (
  id          uuid primary key default gen_random_uuid(),
  company_id  uuid not null references core.companies (id) on delete cascade,
  customer_id uuid,
  name        text not null,
  email       text,
  whatsapp    text,                        -- E.164, used by evolution-manager
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  unique (id, company_id),
  -- a contact can only point at a customer of the same company
  foreign key (customer_id, company_id) references public.customers (id, company_id) on delete cascade
);

create index if not exists customers_company_id_idx on public.customers (company_id);
create index if not exists contacts_company_id_idx on public.contacts (company_id);
create index if not exists contacts_customer_id_idx on public.contacts (customer_id, company_id);

create trigger set_updated_at before update on public.customers
  for each row execute function core.set_updated_at();
create trigger set_updated_at before update on public.contacts
  for each row execute function core.set_updated_at();

alter table public.customers enable row level security;
alter table public.contacts  enable row level security;

revoke all on table public.customers, public.contacts from anon, authenticated;
grant select, insert, update, delete on table public.customers, public.contacts to authenticated;
grant all on table public.customers, public.contacts to service_role;

-- customers ----------------------------------------------------------------------

create policy "Tenant members can view customers"
  on public.customers for select
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can create customers"
  on public.customers for insert
  to authenticated
  with check (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can update customers"
  on public.customers for update
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid)
  with check (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Owners and admins can delete customers"
  on public.customers for delete
  to authenticated
  using (
    company_id = (select auth.jwt() ->> 'company_id')::uuid
    and (select core.current_company_role()) in ('owner', 'admin')
  );

-- contacts -----------------------------------------------------------------------

create policy "Tenant members can view contacts"
  on public.contacts for select
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can create contacts"
  on public.contacts for insert
  to authenticated
  with check (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can update contacts"
  on public.contacts for update
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid)
  with check (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can delete contacts"
  on public.contacts for delete
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);
