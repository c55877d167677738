-- Install the test helpers the usual way: pgTAP, then dbdev (pg_tle + http) and the
-- basejump-supabase_test_helpers package. On the embedded target dbdev's packages are bundled.
create extension if not exists pgtap with schema extensions;
create extension if not exists http with schema extensions;
create extension if not exists pg_tle;
drop extension if exists "supabase-dbdev";
select pgtle.uninstall_extension_if_exists('supabase-dbdev');
select pgtle.install_extension(
    'supabase-dbdev',
    resp.contents ->> 'version',
    'PostgreSQL package manager',
    resp.contents ->> 'sql'
  )
from extensions.http((
    'GET',
    'https://api.database.dev/rest/v1/package_versions?select=sql,version&package_name=eq.supabase-dbdev&order=version.desc&limit=1',
    array[('apiKey', 'anon-key-of-database.dev')::extensions.http_header],
    null,
    null
  )) x,
  lateral (select ((row_to_json(x) -> 'content') #>> '{}')::json -> 0) resp(contents);
create extension "supabase-dbdev";
select dbdev.install('basejump-supabase_test_helpers');
create extension if not exists "basejump-supabase_test_helpers" version '0.0.6';

begin;
select plan(1);
select has_function('tests', 'authenticate_as', array['text'], 'the test helpers are installed');
select * from finish();
rollback;
