-- Private bucket for project attachments. Objects are stored as
--   <org_id>/<project_id>/<file name>
-- so the first folder decides who may touch the object.

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('project-files', 'project-files', false, 52428800, array['image/png', 'image/jpeg', 'application/pdf', 'text/plain'])
on conflict (id) do nothing;

create policy "Org members can read project files"
  on storage.objects for select
  to authenticated
  using (
    bucket_id = 'project-files'
    and (storage.foldername(name))[1] in (select org_id::text from private.user_org_ids() as org_id)
  );

create policy "Org members can upload project files"
  on storage.objects for insert
  to authenticated
  with check (
    bucket_id = 'project-files'
    and (storage.foldername(name))[1] in (select org_id::text from private.user_org_ids() as org_id)
  );

create policy "Uploaders can replace their project files"
  on storage.objects for update
  to authenticated
  using (
    bucket_id = 'project-files'
    and owner_id = (select auth.uid())::text
    and (storage.foldername(name))[1] in (select org_id::text from private.user_org_ids() as org_id)
  );

create policy "Org members can delete project files"
  on storage.objects for delete
  to authenticated
  using (
    bucket_id = 'project-files'
    and (storage.foldername(name))[1] in (select org_id::text from private.user_org_ids() as org_id)
  );
