-- Documents belong to an organization; their author is an auth user (a direct auth.users reference).
create table public.documents (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references public.organizations (id) on delete cascade,
    created_by uuid not null default auth.uid() references auth.users (id),
    title text not null,
    body text,
    created_at timestamptz not null default now()
);
create index documents_organization_id on public.documents (organization_id);

-- A helper over documents alone: it also compares a column with auth.uid(), and documents reference
-- auth.users and a tenant table, but documents are not the membership.
create or replace function public.is_document_author(_document_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (select 1 from public.documents d where d.id = _document_id and d.created_by = auth.uid());
$$;
