alter table public.users enable row level security;
alter table public.organizations enable row level security;
alter table public.organization_members enable row level security;
alter table public.documents enable row level security;

create policy "users read own profile" on public.users
    for select to authenticated using (id = (select auth.uid()));
create policy "users update own profile" on public.users
    for update to authenticated using (id = (select auth.uid())) with check (id = (select auth.uid()));

create policy "members read their organizations" on public.organizations
    for select to authenticated using (public.is_org_member(id));
create policy "owners update their organizations" on public.organizations
    for update to authenticated using (public.has_org_role(id, array['owner']))
    with check (public.has_org_role(id, array['owner']));

create policy "members read co-members" on public.organization_members
    for select to authenticated using (public.is_org_member(organization_id));
create policy "admins add members" on public.organization_members
    for insert to authenticated with check (public.has_org_role(organization_id, array['owner', 'admin']));
create policy "admins remove members" on public.organization_members
    for delete to authenticated using (public.has_org_role(organization_id, array['owner', 'admin']));

create policy "members read documents" on public.documents
    for select to authenticated using (public.is_org_member(organization_id));
create policy "members write documents" on public.documents
    for insert to authenticated with check (public.is_org_member(organization_id) and created_by = (select auth.uid()));
create policy "authors edit their documents" on public.documents
    for update to authenticated using (public.is_document_author(id))
    with check (public.is_org_member(organization_id));
create policy "authors delete their documents" on public.documents
    for delete to authenticated using (public.is_document_author(id));

revoke all on public.users, public.organizations, public.organization_members, public.documents from anon;
