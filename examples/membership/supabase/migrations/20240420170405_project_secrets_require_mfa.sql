-- Per-project secrets (deploy keys etc.). The value lives in Vault; this table
-- only keeps the reference. Reading or changing them requires a session that
-- passed MFA (aal2), on top of the usual membership rules: that's the
-- RESTRICTIVE policy below, ANDed with every permissive one.

create table public.project_secrets (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  name text not null,
  vault_secret_id uuid,
  created_at timestamptz not null default now(),
  unique (project_id, name)
);
create index project_secrets_project_id_idx on public.project_secrets (project_id);

alter table public.project_secrets enable row level security;

create policy "Org members can view project secrets" on public.project_secrets
  for select to authenticated
  using (
    project_id in (
      select p.id from public.projects p
      where p.org_id in (select private.user_org_ids())
    )
  );

create policy "Org admins can manage project secrets" on public.project_secrets
  for all to authenticated
  using (
    exists (
      select 1 from public.projects p
      where p.id = project_secrets.project_id and private.is_org_admin(p.org_id)
    )
  )
  with check (
    exists (
      select 1 from public.projects p
      where p.id = project_secrets.project_id and private.is_org_admin(p.org_id)
    )
  );

create policy "Project secrets require MFA" on public.project_secrets
  as restrictive
  for all to authenticated
  using ((select auth.jwt() ->> 'aal') = 'aal2')
  with check ((select auth.jwt() ->> 'aal') = 'aal2');

grant select, insert, update, delete on public.project_secrets to authenticated;
grant all on public.project_secrets to service_role;
