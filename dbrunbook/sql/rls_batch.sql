-- The RLS matrix's server-side runner (dbrunbook/rls/batch.py): many probe transactions in one statement.
-- Input: the GUC dbrunbook.batch, a jsonb array of plans {role, claims, method, path, search_path,
-- steps: [{sql, as: "identity" | "full", returns: one jsonb value or
-- nothing}]}. Each plan runs in its own subtransaction, which is always
-- rolled back (raise DBRB0) so the next plan sees the data as it was; each step's jsonb value is
-- also readable by later steps as current_setting('dbrunbook.s<N>'). Output: the GUC
-- dbrunbook.result, one {values, rows, failed, sqlstate, message} per plan. Errors a plan provokes
-- (a policy's 42501, a constraint) are caught here, so they never reach the server log; a
-- statement_timeout (query_canceled) is not caught and ends the whole batch.
do $dbrunbook$
declare
  plan jsonb;
  step jsonb;
  vals jsonb;
  counts jsonb;
  val jsonb;
  n int;
  rc bigint;
  failed int;
  st text;
  msg text;
  out jsonb := '[]';
begin
  for plan in select e from jsonb_array_elements(current_setting('dbrunbook.batch')::jsonb) e loop
    vals := '[]'; counts := '[]'; failed := null; st := null; msg := null; n := 0;
    begin
      for step in select e from jsonb_array_elements(plan -> 'steps') e loop
        if step ->> 'as' = 'identity' then
          perform set_config('search_path', plan ->> 'search_path', true),
                  set_config('role', plan ->> 'role', true),
                  set_config('request.jwt.claims', plan ->> 'claims', true),
                  set_config('request.method', plan ->> 'method', true),
                  set_config('request.path', plan ->> 'path', true);
        else
          perform set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
        end if;
        failed := n;
        val := null;
        if (step ->> 'returns')::boolean then
          execute step ->> 'sql' into val;
        else
          execute step ->> 'sql';
        end if;
        get diagnostics rc = row_count;
        failed := null;
        vals := vals || jsonb_build_array(val);
        counts := counts || to_jsonb(rc);
        perform set_config('dbrunbook.s' || n, coalesce(val, 'null'::jsonb)::text, true);
        n := n + 1;
      end loop;
      raise sqlstate 'DBRB0';
    exception
      when sqlstate 'DBRB0' then null;
      when others then get stacked diagnostics st = returned_sqlstate, msg = message_text;
    end;
    out := out || jsonb_build_array(jsonb_build_object('values', vals, 'rows', counts, 'failed', failed,
                                                       'sqlstate', st, 'message', msg));
  end loop;
  perform set_config('dbrunbook.result', out::text, true);
end
$dbrunbook$;
