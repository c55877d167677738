-- Forged-claim reads in bulk (dbrunbook/rls/forged.py): many claim sets x many tables in one statement.
-- Input: the GUC dbrunbook.forged, jsonb {
--   groups: [{read, search_path, size}]  the reads of one schema's tables (the next size tables) in
--           one statement (jsonb[], one element per table), run as the identity with that search_path
--   tables: [{read, check_prepared, check_types, check_params, check, search_path, path}]
--           read: SQL run as the identity, returns a jsonb array of row locations (at most CAP + 1);
--           check_prepared: run with full rights, $1 = those locations as text[], then the
--           trusted identity's check_params (tenant, sub) as parameters of check_types; check: the
--           same as a format() template (%1$s tenant, %2$s sub, as literals), for when
--           check_prepared does not prepare (a parameter inferred as two types). Both return
--           {n, rows, expected}: how many seen rows the oracle forbids, a few of their keys, and
--           (only when more than CAP rows were seen) how many rows the oracle allows, capped at CAP + 1
--   sets:   [{role, claims, trusted: [tenant, sub]}]
--   stem:   a name prefix of the prepared statements, shared by the calls of one batch of claim sets
--           (each call a few of them, under its own statement_timeout); last: the batch's last call
--   cap:    CAP
-- }
-- Each group's read is prepared once and executed for every claim set: the plan is built on its first
-- execution and reused (the claims are read at run time, through auth.jwt()), which is what makes
-- hundreds of claim sets x tables cheap. The statements are deallocated by the batch's last call, and
-- by any call that fails: PREPARE is not transactional.
-- A group read that fails (a policy casting a bent claim to uuid ...) is redone table by table (each
-- table's read prepared on first need): a failing request reads nothing. Errors are caught, so they
-- never reach the server log. A check that fails is reported as is.
-- Identical checks (same table, same trusted identity, same seen rows) run once.
-- Output: the GUC dbrunbook.result: jsonb {reads, errors, results: [[table index, kind, value], ...] per set}
-- where kind is leak ({n, rows, expected, seen}), check_error or lock_timeout ({sqlstate, message}).
do $dbrunbook$
declare
  job jsonb := current_setting('dbrunbook.forged')::jsonb;
  tbl jsonb;
  tables jsonb[] := array(select e from jsonb_array_elements(current_setting('dbrunbook.forged')::jsonb -> 'tables') e);
  seens jsonb[];
  part jsonb[];
  grp jsonb;
  g int;
  j int;
  cs jsonb;
  i int;
  ntab int := jsonb_array_length(job -> 'tables');
  stem text := job ->> 'stem';
  cap int := (job ->> 'cap')::int;
  seen jsonb;
  val jsonb;
  key text;
  memos jsonb[];  -- per table: checks done, by trusted identity and seen rows
  found jsonb;
  -- Statements an earlier call with this stem prepared (a run's claim sets come in several calls).
  names text[] := array(select ps.name from pg_prepared_statements ps
                        where left(ps.name, length(job ->> 'stem')) = job ->> 'stem');
  unprepared text[] := '{}';
  cname text;
  args text;
  pname text;
  name text;
  reads int := 0;
  errs int := 0;
  st text;
  msg text;
  out jsonb := '[]';
begin
  -- The checks' plans are generic: their parameters (tenant, sub, rows) change, their shape does not.
  perform set_config('plan_cache_mode', 'force_generic_plan', true);
  begin
    for g in 0 .. jsonb_array_length(job -> 'groups') - 1 loop
      if not (stem || 'g' || g) = any(names) then
        execute format('prepare %I as %s', stem || 'g' || g, job -> 'groups' -> g ->> 'read');
        names := names || (stem || 'g' || g);
      end if;
    end loop;
    for cs in select e from jsonb_array_elements(job -> 'sets') e loop
      found := '[]';
      seens := '{}';
      -- As the identity: the tables of each schema in one statement (the role and claims once per claim set).
      perform set_config('role', cs ->> 'role', true),
              set_config('request.jwt.claims', cs ->> 'claims', true),
              set_config('request.method', 'GET', true);
      for g in 0 .. jsonb_array_length(job -> 'groups') - 1 loop
        grp := job -> 'groups' -> g;
        -- request.path names no table here (one statement reads them all); the per-table retry sets it.
        perform set_config('search_path', grp ->> 'search_path', true), set_config('request.path', '/', true);
        begin
          execute format('execute %I', stem || 'g' || g) into part;
          seens := seens || part;
          reads := reads + cardinality(part);
        exception when others then
          -- Some table's request fails (a policy casting a bent claim ...): table by table, so the
          -- others still count and the failing one reads nothing.
          part := array_fill(null::jsonb, array[(grp ->> 'size')::int]);
          for j in 0 .. (grp ->> 'size')::int - 1 loop
            i := cardinality(seens) + j;
            tbl := tables[i + 1];
            if not (stem || i) = any(names) then
              perform set_config('role', 'none', true);  -- parsing needs the schema's USAGE
              execute format('prepare %I as %s', stem || i, tbl ->> 'read');
              names := names || (stem || i);
              perform set_config('role', cs ->> 'role', true);
            end if;
            perform set_config('request.path', tbl ->> 'path', true);
            begin
              execute format('execute %I', stem || i) into seen;
              reads := reads + 1;
              part[j + 1] := seen;
            exception when others then
              get stacked diagnostics st = returned_sqlstate, msg = message_text;
              errs := errs + 1;  -- the request fails: it reads nothing ...
              if st = '55P03' then  -- ... unless it only gave up waiting for a lock: no verdict
                found := found || jsonb_build_array(jsonb_build_array(i, 'lock_timeout',
                                                                      jsonb_build_object('sqlstate', st, 'message', msg)));
              end if;
            end;
          end loop;
          seens := seens || part;
        end;
      end loop;
      -- With full rights: the seen rows the trusted identity's oracle forbids.
      perform set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
      for i in 0 .. ntab - 1 loop
        seen := seens[i + 1];
        if seen is null or jsonb_array_length(seen) = 0 then
          continue;
        end if;
        tbl := tables[i + 1];
        key := (cs -> 'trusted')::text || '|' || md5(seen::text);
        val := memos[i + 1] -> key;
        if val is null then
          cname := stem || 'c' || i;
          if not (cname = any(names) or cname = any(unprepared)) then
            begin
              execute format('prepare %I(%s) as %s', cname, tbl ->> 'check_types', tbl ->> 'check_prepared');
              names := names || cname;
            exception when others then
              unprepared := unprepared || cname;  -- the literal template below does it
            end;
          end if;
          begin
            if cname = any(names) then
              args := quote_literal(array(select jsonb_array_elements_text(seen))::text);
              for pname in select jsonb_array_elements_text(tbl -> 'check_params') loop
                args := args || ', ' || quote_nullable(cs -> 'trusted' ->> (case pname when 'tenant' then 0 else 1 end));
              end loop;
              execute format('execute %I(%s)', cname, args) into val;
            else
              execute format(tbl ->> 'check', quote_nullable(cs -> 'trusted' ->> 0),
                             quote_nullable(cs -> 'trusted' ->> 1))
                into val using array(select jsonb_array_elements_text(seen));
            end if;
            -- more rows than the oracle allows is a leak too (beyond CAP only counts compare, as in reads.py)
            val := jsonb_build_object('kind', case when (val ->> 'n')::int > 0 or (jsonb_array_length(seen) > cap
                                                        and (val ->> 'expected')::int <= cap) then 'leak' end,
                                      'value', val || jsonb_build_object('seen', jsonb_array_length(seen)));
          exception when others then
            get stacked diagnostics st = returned_sqlstate, msg = message_text;
            val := jsonb_build_object('kind', 'check_error', 'value', jsonb_build_object('sqlstate', st, 'message', msg));
          end;
          memos[i + 1] := coalesce(memos[i + 1], '{}') || jsonb_build_object(key, val);
        end if;
        if val ->> 'kind' is not null then
          found := found || jsonb_build_array(jsonb_build_array(i, val ->> 'kind', val -> 'value'));
        end if;
      end loop;
      out := out || jsonb_build_array(found);
    end loop;
  exception when others or query_canceled then
    foreach name in array names loop
      execute format('deallocate %I', name);
    end loop;
    raise;
  end;
  if (job ->> 'last')::boolean then
    foreach name in array names loop
      execute format('deallocate %I', name);
    end loop;
  end if;
  perform set_config('dbrunbook.result', jsonb_build_object('reads', reads, 'errors', errs, 'results', out)::text, true);
end
$dbrunbook$;
