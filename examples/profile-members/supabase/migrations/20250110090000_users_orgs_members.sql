-- Profiles keyed by the auth user: public.users.id IS auth.users.id (created by a sign-up trigger).
create table public.users (
    id uuid primary key references auth.users on delete cascade,
    email text,
    full_name text,
    created_at timestamptz not null default now()
);

create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    insert into public.users (id, email) values (new.id, new.email) on conflict (id) do nothing;
    return new;
end;
$$;

create trigger on_auth_user_created
    after insert on auth.users
    for each row execute function public.handle_new_user();

create table public.organizations (
    id uuid primary key default gen_random_uuid(),
    name text not null,
    created_at timestamptz not null default now()
);

-- The membership table: its user column references the profile table, not auth.users.
create table public.organization_members (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references public.organizations (id) on delete cascade,
    user_id uuid not null references public.users (id) on delete cascade,
    member_role text not null default 'member' check (member_role in ('owner', 'admin', 'member')),
    unique (organization_id, user_id)
);
create index organization_members_user_id on public.organization_members (user_id);

-- Helpers the policies call: SECURITY DEFINER so they read the membership past its own RLS.
create or replace function public.is_org_member(_org_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select 1 from public.organization_members om
        where om.organization_id = _org_id and om.user_id = auth.uid()
    );
$$;

create or replace function public.has_org_role(_org_id uuid, _roles text[])
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select 1 from public.organization_members om
        where om.organization_id = _org_id and om.user_id = auth.uid() and om.member_role = any (_roles)
    );
$$;
