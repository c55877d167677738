-- autentique-service: documents sent for e-signature, plus an audit log.
--
-- The audit log is append-only for everyone but the trigger below: API roles
-- can read (owners/admins of the tenant) but never write it. The trigger
-- function is SECURITY DEFINER so that the insert succeeds whoever changes a
-- document; it pins search_path to '' and qualifies every name.

create table if not exists public.documents (
  id             uuid primary key default gen_random_uuid(),
  company_id     uuid not null references core.companies (id) on delete cascade,
  customer_id    uuid,
  autentique_id  text unique,              -- id on Autentique, set after upload
  name           text not null,
  status         text not null default 'draft'
                 check (status in ('draft', 'sent', 'signed', 'rejected', 'expired')),
  signed_at      timestamptz,
  created_by     uuid references auth.users (id) on delete set null default auth.uid(),
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  foreign key (customer_id, company_id) references public.customers (id, company_id) on delete cascade
);

create index if not exists documents_company_id_idx on public.documents (company_id);
create index if not exists documents_customer_id_idx on public.documents (customer_id, company_id);
create index if not exists documents_created_by_idx on public.documents (created_by);

create trigger set_updated_at before update on public.documents
  for each row execute function core.set_updated_at();

alter table public.documents enable row level security;

revoke all on table public.documents from anon, authenticated;
grant select, insert, update, delete on table public.documents to authenticated;
grant all on table public.documents to service_role;

create policy "Tenant members can view documents"
  on public.documents for select
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can create documents"
  on public.documents for insert
  to authenticated
  with check (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Tenant members can update documents"
  on public.documents for update
  to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid)
  with check (company_id = (select auth.jwt() ->> 'company_id')::uuid);

create policy "Owners and admins can delete documents"
  on public.documents for delete
  to authenticated
  using (
    company_id = (select auth.jwt() ->> 'company_id')::uuid
    and (select core.current_company_role()) in ('owner', 'admin')
  );

-- Audit log --------------------------------------------------------------------

create table if not exists core.audit_log (
  id          bigint generated always as identity primary key,
  company_id  uuid not null references core.companies (id) on delete cascade,
  actor_id    uuid,                        -- auth.uid() of the request, NULL for service jobs
  table_name  text not null,
  record_id   text not null,
  action      text not null check (action in ('INSERT', 'UPDATE', 'DELETE')),
  old_data    jsonb,
  new_data    jsonb,
  created_at  timestamptz not null default now()
);

create index if not exists audit_log_company_id_idx on core.audit_log (company_id, created_at desc);

alter table core.audit_log enable row level security;

revoke all on table core.audit_log from anon, authenticated;
grant select on table core.audit_log to authenticated;
grant select on table core.audit_log to service_role;   -- append-only, even for services

create policy "Owners and admins can read the audit log of their company"
  on core.audit_log for select
  to authenticated
  using (
    company_id = (select core.current_company_id())
    and (select core.current_company_role()) in ('owner', 'admin')
  );

create or replace function private.write_audit_log()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  row_data jsonb := to_jsonb(coalesce(new, old));
begin
  insert into core.audit_log (company_id, actor_id, table_name, record_id, action, old_data, new_data)
  values (
    (row_data ->> 'company_id')::uuid,
    auth.uid(),
    tg_table_schema || '.' || tg_table_name,
    row_data ->> 'id',
    tg_op,
    case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) end,
    case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) end
  );
  return coalesce(new, old);
end;
$$;

revoke execute on function private.write_audit_log() from public, anon, authenticated;

create trigger audit_documents
  after insert or update or delete on public.documents
  for each row execute function private.write_audit_log();

create trigger audit_memberships
  after insert or update or delete on core.memberships
  for each row execute function private.write_audit_log();
