-- Core schema: tenants (companies), user profiles and memberships.
--
-- Every service (backoffice-api, agent-runtime, autentique-service, facebook-capi,
-- evolution-manager) keys its rows by company_id -> core.companies(id).
-- Tenant context comes from the access token: the custom access token hook
-- (next migration) copies the user's company into a top-level `company_id` claim;
-- the in-tenant role (owner/admin/agent) travels in app_metadata.company_role,
-- which only the service role can write (GoTrue admin API), never the user.

create schema if not exists core;
create schema if not exists private;  -- not exposed through the Data API

comment on schema core is 'Tenants, profiles and memberships shared by every service.';
comment on schema private is 'Internal helpers (SECURITY DEFINER); never exposed through PostgREST.';

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

create table if not exists core.companies (
  id          uuid primary key default gen_random_uuid(),
  name        text not null check (length(trim(name)) > 0),
  slug        text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]*$'),
  plan        text not null default 'starter' check (plan in ('starter', 'pro', 'enterprise')),
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
comment on table core.companies is 'One row per tenant. The tenant key everywhere else is company_id.';

-- 1:1 with auth.users. company_id is the home company of the user (the one the
-- access token hook puts in the JWT).
create table if not exists core.profiles (
  id          uuid primary key references auth.users (id) on delete cascade,
  company_id  uuid not null references core.companies (id) on delete cascade,
  full_name   text,
  avatar_url  text,
  locale      text not null default 'pt-BR',
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

create table if not exists core.memberships (
  id          uuid primary key default gen_random_uuid(),
  company_id  uuid not null references core.companies (id) on delete cascade,
  user_id     uuid not null references auth.users (id) on delete cascade,
  role        text not null default 'agent' check (role in ('owner', 'admin', 'agent')),
  created_at  timestamptz not null default now(),
  unique (company_id, user_id)
);

create index if not exists profiles_company_id_idx on core.profiles (company_id);
create index if not exists memberships_company_id_idx on core.memberships (company_id);
create index if not exists memberships_user_id_idx on core.memberships (user_id);

-- ---------------------------------------------------------------------------
-- Helpers used by policies. STABLE, with a pinned search_path (Supabase lint
-- 0011); policies wrap them in (select ...) so they run once per statement.
-- ---------------------------------------------------------------------------

create or replace function core.current_company_id()
returns uuid
language sql
stable
set search_path = ''
as $$
  select nullif(auth.jwt() ->> 'company_id', '')::uuid
$$;
comment on function core.current_company_id() is
  'Tenant of the current request: the top-level company_id claim of the JWT (NULL outside a request).';

create or replace function core.current_company_role()
returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(auth.jwt() -> 'app_metadata' ->> 'company_role', '')
$$;
comment on function core.current_company_role() is
  'In-tenant role (owner/admin/agent) from app_metadata.company_role; empty string when absent.';

-- updated_at maintenance, shared by every table that has the column.
create or replace function core.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

drop trigger if exists set_updated_at on core.companies;
create trigger set_updated_at before update on core.companies
  for each row execute function core.set_updated_at();

drop trigger if exists set_updated_at on core.profiles;
create trigger set_updated_at before update on core.profiles
  for each row execute function core.set_updated_at();
