begin;
select plan(8);

select tests.create_supabase_user('ana');
select tests.create_supabase_user('bruno');

select tests.authenticate_as('ana');
select lives_ok($$ insert into public.bookmarks (url, title) values ('https://example.test/a', 'A') $$,
                'ana adds a bookmark');
select throws_ok($$ insert into public.bookmarks (owner_id, url) values (tests.get_supabase_uid('bruno'), 'https://x.test') $$,
                 '42501', null, 'ana cannot add a bookmark for bruno');
select is(public.bookmark_count(), 1::bigint, 'bookmark_count() is executable by authenticated');

select tests.authenticate_as('bruno');
select is_empty('select * from public.bookmarks', 'bruno does not see ana''s bookmark');

-- the webhook queued one request through pg_net (read as postgres: net.* is not the API roles')
reset role;
select is((select count(*) from supabase_functions.hooks where hook_name = 'check-new-bookmark')::int, 1,
          'the webhook fired once');
select is((select url from net.http_request_queue order by id desc limit 1),
          'http://link-checker.internal:8080/hooks/bookmark', 'the webhook posted to the link checker');

-- moddatetime keeps updated_at, here under frozen time
select tests.freeze_time('2024-09-01 12:00:00+00');
select is(now(), '2024-09-01 12:00:00+00'::timestamptz, 'now() is frozen');
select tests.unfreeze_time();
select isnt(now(), '2024-09-01 12:00:00+00'::timestamptz, 'now() runs again');

select * from finish();
rollback;
