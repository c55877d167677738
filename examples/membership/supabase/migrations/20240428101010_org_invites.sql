-- Invitations. The invite link carries a JWT signed with pgjwt; the signing
-- key sits in Vault, so signing happens in a SECURITY DEFINER helper.

create table public.invites (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  email text not null,
  role public.org_role not null default 'member',
  token text,
  invited_by uuid references auth.users (id) on delete set null default auth.uid(),
  expires_at timestamptz not null default now() + interval '7 days',
  created_at timestamptz not null default now()
);
create index invites_org_id_idx on public.invites (org_id);

alter table public.invites enable row level security;

create policy "Org admins can view invites" on public.invites
  for select to authenticated
  using ((select private.is_org_admin(org_id)));

create policy "Org admins can create invites" on public.invites
  for insert to authenticated
  with check ((select private.is_org_admin(org_id)));

create policy "Org admins can revoke invites" on public.invites
  for delete to authenticated
  using ((select private.is_org_admin(org_id)));

grant select, insert, delete on public.invites to authenticated;
grant all on public.invites to service_role;

select vault.create_secret(
  encode(extensions.gen_random_bytes(32), 'hex'),
  'invite_signing_key',
  'HS256 key for invite links'
);

create or replace function private.sign_invite()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  signing_key text;
begin
  select decrypted_secret into signing_key
  from vault.decrypted_secrets
  where name = 'invite_signing_key';

  new.token := extensions.sign(
    json_build_object(
      'sub', new.email,
      'org', new.org_id,
      'role', new.role,
      'exp', extract(epoch from new.expires_at)::bigint
    ),
    signing_key
  );
  return new;
end;
$$;

revoke execute on function private.sign_invite() from public, anon, authenticated;

create trigger sign_invite
  before insert on public.invites
  for each row execute function private.sign_invite();
