-- The RLS matrix's server-side runner (dbrunbook/rls/batch.py): many probe transactions in one statement.
-- Input: the GUC dbrunbook.batch, {sql: [statement texts], plans: [{role, claims, method, path,
-- search_path, steps: [{q: index into sql, as: "identity" | "full", returns: true if it yields one
-- jsonb value (absent: a write, nothing), once: true | absent}]}]}: a text many plans run is sent once.
-- Each plan runs in its own subtransaction, which is always rolled back (raise DBRB0) so the next
-- plan sees the data as it was. A step reads the values of its plan's earlier steps as $1, a jsonb
-- array ($1 -> 0 is step 0's value): a parameter, no text round trip through a GUC.
-- A step marked once runs for the first plan that has it; later plans of the batch reuse its value
-- (and report null for it: the caller knows it already).
-- Only for full-rights reads that come before the plan's request: every plan before it rolled back,
-- so they would read the same. The values are kept in arrays and forgotten when the next plan is
-- another table's (a batch holds each table's plans together).
-- Role and claims switch only when a step's side differs from the previous one's. The plan's
-- search_path, request.method and request.path are set before its subtransaction, and only when
-- they change: a search_path set inside it would be undone by every rollback, and each change makes
-- PostgreSQL plan this block's own statements again (half the cost of a plan). Every step of a
-- plan, full rights too, runs with the plan's search_path.
-- Output: the GUC dbrunbook.result, one {values, failed, sqlstate, message} per plan, collected
-- as text and joined once (failed: the index of the step that raised). Errors a plan provokes (a
-- policy's 42501, a constraint) are caught here, so they never reach the server log; a
-- statement_timeout (query_canceled) is not caught and ends the whole batch.
do $dbrunbook$
declare
  plan jsonb;
  step jsonb;
  batch jsonb := current_setting('dbrunbook.batch')::jsonb;
  texts jsonb;
  shown jsonb;
  code text;
  vals jsonb;
  val jsonb;
  known text[] := '{}';
  known_vals jsonb[] := '{}';
  k int;
  n int;
  failed int;
  st text;
  msg text;
  side text;
  path text := '';
  method text := '';
  target text := '';
  out text[] := '{}';
begin
  perform set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
  texts := batch -> 'sql';
  for plan in select e from jsonb_array_elements(batch -> 'plans') e loop
    vals := '[]'; shown := '[]'; n := 0; side := 'full'; failed := null; st := null; msg := null;
    if plan ->> 'path' <> target then  -- another table: its once-steps are others
      known := '{}'; known_vals := '{}';
      target := plan ->> 'path';
      perform set_config('request.path', target, true);
    end if;
    if plan ->> 'search_path' <> path then
      path := plan ->> 'search_path';
      perform set_config('search_path', path, true);
    end if;
    if plan ->> 'method' <> method then
      method := plan ->> 'method';
      perform set_config('request.method', method, true);
    end if;
    begin
      for step in select e from jsonb_array_elements(plan -> 'steps') e loop
        code := texts ->> (step ->> 'q')::int;
        k := case when step ? 'once' then array_position(known, code) end;
        if k is not null then
          val := known_vals[k];
          shown := shown || 'null'::jsonb;
        else
          if step ->> 'as' <> side then
            if side = 'full' then
              perform set_config('role', plan ->> 'role', true), set_config('request.jwt.claims', plan ->> 'claims', true);
            else
              perform set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
            end if;
            side := step ->> 'as';
          end if;
          if step ? 'returns' then
            execute code into val using vals;
          else
            execute code using vals;
            val := null;
          end if;
          if step ? 'once' then
            known := array_append(known, code);
            known_vals := array_append(known_vals, val);
          end if;
          shown := shown || jsonb_build_array(val);
        end if;
        vals := vals || jsonb_build_array(val);
        n := n + 1;
      end loop;
      raise sqlstate 'DBRB0';
    exception
      when sqlstate 'DBRB0' then null;
      when others then get stacked diagnostics st = returned_sqlstate, msg = message_text; failed := n;
    end;
    out := array_append(out, jsonb_build_object('values', shown, 'failed', failed, 'sqlstate', st,
                                                'message', msg)::text);
  end loop;
  perform set_config('dbrunbook.result', '[' || array_to_string(out, ',') || ']', true);
end
$dbrunbook$;
