-- Row level security, grants and the access token hook for the core schema.
--
-- `core` is not `public`: the hosted default privileges do not apply here, so
-- every privilege an API role needs is granted explicitly below. anon gets
-- nothing in core.

alter table core.companies   enable row level security;
alter table core.profiles    enable row level security;
alter table core.memberships enable row level security;

grant usage on schema core to authenticated, service_role;

grant select, update on table core.companies to authenticated;
grant select, update on table core.profiles to authenticated;
grant select, insert, update, delete on table core.memberships to authenticated;
grant all on table core.companies, core.profiles, core.memberships to service_role;

grant execute on function core.current_company_id() to authenticated, service_role;
grant execute on function core.current_company_role() to authenticated, service_role;

-- companies --------------------------------------------------------------------

drop policy if exists "Members can view their company" on core.companies;
create policy "Members can view their company"
  on core.companies for select
  to authenticated
  using (id = (select core.current_company_id()));

drop policy if exists "Owners can update their company" on core.companies;
create policy "Owners can update their company"
  on core.companies for update
  to authenticated
  using (id = (select core.current_company_id()) and (select core.current_company_role()) = 'owner')
  with check (id = (select core.current_company_id()) and (select core.current_company_role()) = 'owner');

-- profiles ---------------------------------------------------------------------

drop policy if exists "Members can view profiles of their company" on core.profiles;
create policy "Members can view profiles of their company"
  on core.profiles for select
  to authenticated
  using (company_id = (select core.current_company_id()));

drop policy if exists "Users can update their own profile" on core.profiles;
create policy "Users can update their own profile"
  on core.profiles for update
  to authenticated
  using (id = (select auth.uid()) and company_id = (select core.current_company_id()))
  with check (id = (select auth.uid()) and company_id = (select core.current_company_id()));

-- memberships ------------------------------------------------------------------

drop policy if exists "Members can view memberships of their company" on core.memberships;
create policy "Members can view memberships of their company"
  on core.memberships for select
  to authenticated
  using (company_id = (select core.current_company_id()));

drop policy if exists "Owners and admins can add members" on core.memberships;
create policy "Owners and admins can add members"
  on core.memberships for insert
  to authenticated
  with check (
    company_id = (select core.current_company_id())
    and (select core.current_company_role()) in ('owner', 'admin')
  );

drop policy if exists "Owners and admins can change members" on core.memberships;
create policy "Owners and admins can change members"
  on core.memberships for update
  to authenticated
  using (
    company_id = (select core.current_company_id())
    and (select core.current_company_role()) in ('owner', 'admin')
  )
  with check (
    company_id = (select core.current_company_id())
    and (select core.current_company_role()) in ('owner', 'admin')
  );

drop policy if exists "Owners and admins can remove members" on core.memberships;
create policy "Owners and admins can remove members"
  on core.memberships for delete
  to authenticated
  using (
    company_id = (select core.current_company_id())
    and (select core.current_company_role()) in ('owner', 'admin')
  );

-- Custom access token hook ----------------------------------------------------
-- Supabase Auth calls this (as supabase_auth_admin) before issuing a token and
-- copies the home company of the user into a top-level `company_id` claim.
-- https://supabase.com/docs/guides/auth/auth-hooks/custom-access-token-hook

create or replace function core.custom_access_token_hook(event jsonb)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  claims     jsonb := event -> 'claims';
  company    uuid;
begin
  select p.company_id into company
  from core.profiles p
  where p.id = (event ->> 'user_id')::uuid;

  if company is not null then
    claims := jsonb_set(claims, '{company_id}', to_jsonb(company::text));
  else
    claims := claims - 'company_id';
  end if;

  return jsonb_set(event, '{claims}', claims);
end;
$$;

grant usage on schema core to supabase_auth_admin;
grant execute on function core.custom_access_token_hook(jsonb) to supabase_auth_admin;
revoke execute on function core.custom_access_token_hook(jsonb) from authenticated, anon, public;
grant select on table core.profiles to supabase_auth_admin;

drop policy if exists "Auth admin can read profiles for the token hook" on core.profiles;
create policy "Auth admin can read profiles for the token hook"
  on core.profiles for select
  to supabase_auth_admin
  using (true);
