create extension if not exists vector with schema extensions;
create extension if not exists pg_trgm with schema extensions;

create table public.documents (
  id bigint generated always as identity primary key,
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  title text not null,
  body text not null,
  embedding extensions.vector(3) not null
);

alter table public.documents enable row level security;

create policy "owners read their documents" on public.documents
  for select to authenticated using ((select auth.uid()) = owner_id);
create policy "owners add documents" on public.documents
  for insert to authenticated with check ((select auth.uid()) = owner_id);

grant select, insert on public.documents to authenticated;

create index documents_embedding_ivfflat on public.documents
  using ivfflat (embedding extensions.vector_l2_ops) with (lists = 100);

create index documents_embedding_hnsw on public.documents
  using hnsw (embedding extensions.vector_cosine_ops) with (m = 16, ef_construction = 64);

create index documents_title_trgm on public.documents using gin (title extensions.gin_trgm_ops);
