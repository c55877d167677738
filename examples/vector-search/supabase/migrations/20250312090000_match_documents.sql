-- Nearest documents by cosine distance, as the caller (RLS applies).
create or replace function public.match_documents(query_embedding extensions.vector(3), match_count int default 5)
returns table (id bigint, title text, similarity double precision)
language sql stable
set search_path = ''
as $$
  select d.id, d.title, 1 - (d.embedding operator(extensions.<=>) query_embedding) as similarity
  from public.documents d
  order by d.embedding operator(extensions.<=>) query_embedding
  limit match_count;
$$;

grant execute on function public.match_documents(extensions.vector, int) to authenticated;
