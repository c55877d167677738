begin;
select plan(7);

select tests.rls_enabled('public', 'documents');
select has_index('public', 'documents', 'documents_embedding_hnsw', 'the hnsw index exists');
select ok(pg_get_indexdef('public.documents_embedding_ivfflat'::regclass) like '%lists%100%',
          'the ivfflat index keeps its lists option');

select tests.create_supabase_user('ana');
select tests.create_supabase_user('bruno');

select tests.authenticate_as('ana');
insert into public.documents (title, body, embedding) values
  ('cats', 'about cats', '[1,0,0]'),
  ('dogs', 'about dogs', '[0,1,0]'),
  ('kittens', 'about kittens', '[0.9,0.1,0]');

select results_eq(
  $$ select title from public.match_documents('[1,0,0]', 2) $$,
  array['cats', 'kittens'],
  'the two nearest documents come first');
select is((select round(similarity::numeric, 3) from public.match_documents('[1,0,0]', 1)), 1.000,
          'an identical embedding has similarity 1');
select throws_ok($$ insert into public.documents (title, body, embedding) values ('bad', 'x', '[1,2]') $$,
                 null, null, 'an embedding of the wrong dimension is refused');

select tests.authenticate_as('bruno');
select is_empty($$ select * from public.match_documents('[1,0,0]') $$, 'bruno finds none of ana''s documents');

select * from finish();
rollback;
