begin;
select plan(5);

select tests.create_supabase_user('ana');
select tests.authenticate_as('ana');
insert into public.bookmarks (url) values ('https://example.test/t');
insert into public.tags (bookmark_id, label)
  select id, public.normalize_label('  News ') from public.bookmarks;

select is((select label from public.tags), 'news', 'normalize_label (BEGIN ATOMIC) trims and lowercases');
select is(public.atomic_tag_count((select id from public.bookmarks)), 1::bigint, 'atomic_tag_count counts tags');
select has_column('public', 'tags', 'atomic_id', 'the atomic_id column exists');

select tests.clear_authentication();
select throws_ok('select public.bookmark_count()', '42501', null,
                 'anon may not execute bookmark_count (default privileges revoked from PUBLIC)');

reset role;
select is((select extowner::regrole::text from pg_extension where extname = 'moddatetime'), 'supabase_admin',
          'moddatetime is owned by supabase_admin, as supautils does on hosted');

select * from finish();
rollback;
