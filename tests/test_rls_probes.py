"""RLS write probes as PostgREST sends them, rows matched inside the probe's own transaction, no vacuous cells."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_readonly_proof import ServerLog, _ours, _statements, logged_server  # noqa: F401 (fixture)
from test_rls_demo import cell_name, failures, faulty_demo, junit_cells, only_failure, run_rls  # noqa: F401 (fixture)
from test_rls_membership import faulty_membership, membership_server  # noqa: F401 (fixtures)
from test_rls_membership import run_rls as run_membership

from conftest import REPO, Product, ProductRun, demo_target

ACME, GLOBEX, INITECH = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
                         "33333333-3333-4333-8333-333333333333")


def verdicts(run: ProductRun, *check_ids: str) -> dict[str, str]:
    """Matrix cell (check, table, identity) -> outcome (no target name, so two runs compare)."""
    return {f"{r['check_id']} {cell_name(r)}": r["outcome"] for r in run.results if r["check_id"] in check_ids}


@pytest.mark.fault(scenario="UPDATE policy USING (true) on a table without a tenant column (membership tenancy)",
                   expect="fail rls.update_isolation P0 LEAK for the users, not 'denied'")
def test_update_using_true_without_tenant_column_is_caught(product: Product,
                                                           faulty_membership: Callable[[str], str]) -> None:  # noqa: F811
    # A PATCH sets a constant: only the UPDATE policy decides, so every user changes other orgs' tasks.
    # (SET col = col would bring in the SELECT policy and hide exactly this.)
    dsn = faulty_membership('alter policy "Org members can update tasks" on public.tasks using (true) '
                            'with check (true)')
    run = run_membership(product, dsn, "rls_contracts/test_matrix.py", "-k", "tasks and updates")
    msg = only_failure(run, "rls.update_isolation", "public.tasks-quinn_quasar_owner")
    assert "LEAK" in msg and "UPDATE public.tasks SET" in msg and "operation update" in msg
    assert "[P0]" in msg
    assert only_failure(run, "rls.update_isolation", "public.tasks-lena_no_org")
    assert not [n for n in failures(run, "rls.update_isolation") if "anon" in n or "service_role" in n]


def test_update_policy_intact_passes(product: Product, membership_server: object) -> None:  # noqa: F811
    run = run_membership(product, membership_server.dsn, "rls_contracts/test_matrix.py",  # type: ignore[attr-defined]
                         "-k", "tasks and updates")
    assert run.returncode == 0, run.output[-3000:]
    assert {r["outcome"] for r in run.results if r["check_id"] == "rls.update_isolation"} == {"passed"}


SEED = """
insert into public.contacts ({id}company_id, name) values
  ({a}'11111111-1111-4111-8111-111111111111', 'seeded acme contact'),
  ({g}'22222222-2222-4222-8222-222222222222', 'seeded globex contact'),
  ({i}'33333333-3333-4333-8333-333333333333', 'seeded initech contact');
"""


def _seeded(tmp_path: Path, name: str, seed: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "seed.sql").write_text(seed)
    contract = folder / "contracts.toml"
    contract.write_text((REPO / "rls_contracts" / "contracts.toml").read_text().replace(
        "[contract]\n", '[contract]\nseed_sql = "seed.sql"\n', 1))
    return f"--contracts={contract}"


@pytest.mark.fault(scenario="contract seed whose ids come from gen_random_uuid()",
                   expect="same verdicts as fixed ids: pass, no false LEAK")
def test_generated_ids_in_the_seed_give_the_verdicts_of_fixed_ids(product: Product,
                                                                  faulty_demo: Callable[[str], str],  # noqa: F811
                                                                  tmp_path: Path) -> None:
    dsn = faulty_demo("select 1")
    fixed = _seeded(tmp_path, "fixed", SEED.format(
        id="id, ", a="'c0000000-0000-4000-8000-00000000000a', ", g="'c0000000-0000-4000-8000-00000000000b', ",
        i="'c0000000-0000-4000-8000-00000000000c', "))
    generated = _seeded(tmp_path, "generated", SEED.format(id="", a="", g="", i=""))
    checks = ("rls.read_isolation", "rls.insert_isolation", "rls.update_isolation", "rls.delete_isolation")
    runs = [run_rls(product, dsn, "rls_contracts/test_matrix.py", contract, "-k", "contacts")
            for contract in (fixed, generated)]
    assert verdicts(runs[0], *checks) == verdicts(runs[1], *checks)
    assert runs[1].returncode == 0, runs[1].output[-3000:]
    assert len(verdicts(runs[1], *checks)) == 4 * 6


@pytest.mark.fault(scenario="INSERT policy lets one other tenant through; the same rows in two physical orders",
                   expect="fail rls.insert_isolation P0 LEAK in both orders")
def test_physical_row_order_does_not_change_insert_verdicts(product: Product,
                                                            faulty_demo: Callable[[str], str]) -> None:  # noqa: F811  # noqa: F811
    # acme and globex users may insert initech contacts; initech's rows come last or first on disk.
    leaky = (f'alter policy "Tenant members can create contacts" on public.contacts with check ('
             f"company_id = (select auth.jwt() ->> 'company_id')::uuid or company_id = '{INITECH}');"
             "create temp table c as select * from public.contacts;"
             "alter table public.contacts disable trigger user;"
             "delete from public.contacts;"
             "insert into public.contacts select * from c order by company_id {order};"
             "alter table public.contacts enable trigger user;")
    runs = [run_rls(product, faulty_demo(leaky.format(order=order)), "rls_contracts/test_matrix.py",
                    "-k", "contacts and inserts") for order in ("asc", "desc")]
    assert verdicts(runs[0], "rls.insert_isolation") == verdicts(runs[1], "rls.insert_isolation")
    for run in runs:
        msg = only_failure(run, "rls.insert_isolation", "public.contacts-acme_owner")
        assert "LEAK" in msg and f"tenant {INITECH}" in msg
        assert only_failure(run, "rls.insert_isolation", "public.contacts-globex_admin")
        assert not [n for n in failures(run, "rls.insert_isolation") if "initech_agent" in n]


@pytest.mark.fault(scenario="a contracted table holds no row (no seed)",
                   expect="inconclusive (no_data) cells naming the table, never a pass")
def test_empty_contracted_table_is_reported_not_passed(product: Product,
                                                       faulty_demo: Callable[[str], str]) -> None:  # noqa: F811
    dsn = faulty_demo("delete from public.contacts")
    run = run_rls(product, dsn, "rls_contracts/test_matrix.py", "-k", "contacts")
    cells = [r for r in run.results if r["check_id"].endswith("_isolation")]
    # One finding for the cause; the table's other cells skip pointing at it. None passes.
    assert len(cells) == 4 * 6 and "inconclusive" in {r["outcome"] for r in cells}, run.output[-3000:]
    assert {r["outcome"] for r in cells} <= {"inconclusive", "skipped"}
    assert run.returncode != 0
    assert "public.contacts holds no row" in run.output
    states = [c["state"] for c in junit_cells(run)]
    assert len(states) == 4 * 6 and set(states) == {"inconclusive"}, states


@pytest.mark.fault(scenario="a seed_sql that does not cover an empty contracted table",
                   expect="fail rls.matrix_has_data P2 naming the table (counted after the seed)")
def test_matrix_has_data_counts_after_the_seed(product: Product, faulty_demo: Callable[[str], str],  # noqa: F811
                                               tmp_path: Path) -> None:
    dsn = faulty_demo("delete from public.documents")
    contract = _seeded(tmp_path, "seeded", SEED.format(id="", a="", g="", i=""))
    run = run_rls(product, dsn, "rls_contracts/test_structure.py", contract, "-k", "matrix_can_judge")
    assert run.outcome("rls.matrix_has_data") == "failed", run.output[-3000:]
    assert "public.documents has no row at all" in run.message("rls.matrix_has_data")
    assert "public.contacts" not in run.message("rls.matrix_has_data")


@pytest.mark.fault(scenario="an empty table in a membership contract (no tenant column)",
                   expect="fail rls.matrix_has_data P2 naming the table")
def test_matrix_has_data_checks_membership_contracts(product: Product,
                                                     faulty_membership: Callable[[str], str]) -> None:  # noqa: F811
    run = run_membership(product, faulty_membership("delete from public.events"), "rls_contracts/test_structure.py",
                         "-k", "matrix_can_judge")
    assert run.outcome("rls.matrix_has_data") == "failed", run.output[-3000:]
    message = run.message("rls.matrix_has_data")
    assert "public.events has no row at all" in message and "seed_sql" in message


@pytest.mark.fault(scenario="the whole RLS matrix, writes included, on a writable target logging every statement",
                   expect="zero ERROR lines from our sessions: the policies' 42501 refusals are caught on the server")
def test_rls_matrix_leaves_no_error_line_in_the_server_log(
        product: Product, logged_server: tuple[str, ServerLog]) -> None:  # noqa: F811
    dsn, log = logged_server
    log.mark()
    run = product.run("rls_contracts/test_matrix.py", "-m", "rls", "--target=t",
                      targets_toml=demo_target("read_only = false"), env={"T_DB_URL": dsn}, timeout=300)
    assert run.returncode == 0, run.output[-3000:]
    refused = [r for r in run.results if r["check_id"] == "rls.insert_isolation" and r["outcome"] == "passed"]
    assert len(refused) >= 40  # cross-tenant inserts were tried, and refused by the policies (42501)
    ours = _ours(log.read())
    assert _statements(ours), "nothing of ours was logged: the proof proves nothing"
    errors = [f"[{e.pid}] {e.level}: {e.text[:300]}" for e in ours if e.level in ("ERROR", "FATAL", "PANIC")]
    assert not errors, f"{len(errors)} ERROR line(s) from our sessions:\n" + "\n".join(errors[:20])


AUDIT_TRIGGER = """
grant insert on core.audit_log to authenticated;
create function public.contacts_audit() returns trigger language plpgsql as $$
begin
  insert into core.audit_log (company_id, table_name, record_id, action)
  values (new.company_id, 'contacts', new.id::text, 'UPDATE');
  return new;
end $$;
create trigger contacts_audit after update on public.contacts for each row execute function public.contacts_audit();
"""


@pytest.mark.fault(scenario="an UPDATE trigger writes to another table whose policy refuses it (42501 from audit_log)",
                   expect="update cells inconclusive naming audit_log; no BLOCKING or LEAK verdict from it")
def test_a_42501_from_another_tables_policy_is_inconclusive_not_a_verdict(
        product: Product, faulty_demo: Callable[[str], str]) -> None:  # noqa: F811
    run = run_rls(product, faulty_demo(AUDIT_TRIGGER), "rls_contracts/test_matrix.py", "-k", "contacts and updates")
    cells = [r for r in run.results if r["check_id"] == "rls.update_isolation"]
    assert cells and not [r for r in cells if r["outcome"] == "failed"], run.output[-3000:]
    assert "inconclusive" in {r["outcome"] for r in cells}
    assert 'audit_log' in run.output and "no verdict" in run.output


AHEAD_FAULTS = """
alter policy "Tenant members can view customers" on public.customers using (true);
alter policy "Tenant members can create customers" on public.customers with check (true);
alter policy "Tenant members can delete contacts" on public.contacts using (true);
""" + AUDIT_TRIGGER


@pytest.mark.fault(scenario="the matrix engine probes the cells of several tables in one server batch "
                            "(run_table ahead=...), leaks and an inconclusive cause among them",
                   expect="every cell gets the verdict it gets when its table runs alone")
def test_tables_probed_ahead_keep_their_own_verdicts(faulty_demo: Callable[[str], str]) -> None:  # noqa: F811
    from dbrunbook import session
    from dbrunbook.config import Thresholds
    from dbrunbook.rls import contract as rls_contract
    from dbrunbook.rls import matrix

    contract = rls_contract.load(REPO / "rls_contracts" / "contracts.toml")
    policy = session.SessionPolicy(read_only=False, thresholds=Thresholds())
    conn = session.connect(faulty_demo(AHEAD_FAULTS), policy)
    try:
        probes = list(matrix.probes(conn, policy, contract.tables, tuple(contract.tenants.values()),
                                    contract.seed_sql).values())
        states = set()
        for op in ("select", "insert", "update", "delete"):
            tables = [p for p in probes if op in p.table.operations]
            alone = [[(o.identity, o.state, o.detail()) for o in matrix.run_table(p, contract.identities, op)]
                     for p in tables]
            ahead = [[(o.identity, o.state, o.detail())
                      for o in matrix.run_table(p, contract.identities, op, ahead=tables[k + 1:])]
                     for k, p in enumerate(tables)]
            assert ahead == alone, op
            states |= {s for cells in alone for _, s, _ in cells}
        assert {"ok", "leak", "inconclusive"} <= states, states
    finally:
        conn.close()
