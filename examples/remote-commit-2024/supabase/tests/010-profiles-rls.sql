begin;
select plan(8);

select tests.rls_enabled('public');

select tests.create_supabase_user('ana', 'ana@example.test', null, '{"display_name": "Ana"}');
select tests.create_supabase_user('bruno', null, null, '{"display_name": "Bruno"}');

-- the on_auth_user_created trigger made a profile for each
select is((select count(*) from public.profiles)::int, 2, 'a profile per new user');
select is((select display_name from public.profiles where id = tests.get_supabase_uid('ana')), 'Ana',
          'display_name comes from the user metadata');

select tests.authenticate_as('ana');
select results_eq('select display_name from public.profiles', array['Ana'], 'ana sees only her profile');
select is((select auth.uid()), tests.get_supabase_uid('ana'), 'auth.uid() is ana');

update public.profiles set display_name = 'hacked' where id = tests.get_supabase_uid('bruno');
select tests.authenticate_as_service_role();
select is((select display_name from public.profiles where id = tests.get_supabase_uid('bruno')), 'Bruno',
          'ana cannot rename bruno');

select throws_ok($$ select tests.authenticate_as('nobody') $$, 'User with identifier nobody not found',
                 'an unknown identifier is refused');

select tests.clear_authentication();
select is_empty('select * from public.profiles', 'anon sees no profile');

select * from finish();
rollback;
