-- Plan each contracted oracle (EXPLAIN, never run) and, where writes are allowed, run the seed, each
-- inside an exception block: an error is caught there, returned as data and never reaches the
-- server log. The caller's transaction is rolled back, so the seed leaves nothing. A lock or statement
-- timeout (55P03, 57014) is not a contract error: that relation is busy, its probes say so.
-- Settings read: dbrunbook.oracles (json array of {name, schema, table, oracle}), dbrunbook.seed.
do $dbrunbook$
declare
  o jsonb;
  errors jsonb := '[]';
begin
  for o in select * from jsonb_array_elements(current_setting('dbrunbook.oracles')::jsonb) loop
    begin
      execute format('explain select 1 from %I.%I t where coalesce((%s), false)',
                     o ->> 'schema', o ->> 'table', o ->> 'oracle');
    exception when lock_not_available or query_canceled then null;
    when others then
      errors := errors || jsonb_build_object('what', 'oracle', 'name', o ->> 'name', 'sqlstate', sqlstate,
                                             'error', sqlerrm);
    end;
  end loop;
  if coalesce(current_setting('dbrunbook.seed', true), '') <> '' then
    begin
      execute current_setting('dbrunbook.seed');
    exception when lock_not_available or query_canceled then null;
    when others then
      errors := errors || jsonb_build_object('what', 'seed', 'name', 'seed_sql', 'sqlstate', sqlstate,
                                             'error', sqlerrm);
    end;
  end if;
  perform set_config('dbrunbook.contract_errors', errors::text, true);
end
$dbrunbook$;
