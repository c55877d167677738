-- The test helpers, installed the short way (the package is already known to dbdev).
create extension if not exists pgtap with schema extensions;
create extension if not exists "basejump-supabase_test_helpers" version '0.0.6';

begin;
select plan(1);
select has_schema('tests', 'the test helpers are installed');
select * from finish();
rollback;
