"""Generate the RLS benchmark project: 100 tenant tables, its dbrunbook contract and the equivalent pgTAP file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TABLES = 100
PER_FILE = 25
ROWS_PER_TENANT = 3
TENANTS = {"acme": "11111111-1111-4111-8111-111111111111",
           "globex": "22222222-2222-4222-8222-222222222222",
           "initech": "33333333-3333-4333-8333-333333333333"}
USERS = {"acme": "aaaaaaaa-0001-4000-8000-000000000001",
         "globex": "bbbbbbbb-0001-4000-8000-000000000001",
         "initech": "cccccccc-0001-4000-8000-000000000001"}
#: Identities of both sides: anon key, one signed-in user per tenant, service_role key.
IDENTITIES = ("anon", *TENANTS, "service_role")
OPERATIONS = ("select", "insert", "update", "delete")
CLAIM = "(select auth.jwt()) ->> 'company_id'"


def table_name(i: int) -> str:
    """``t001`` .. ``t100``."""
    return f"t{i:03d}"


def _table_sql(i: int) -> str:
    t = table_name(i)
    own = f"company_id = ({CLAIM})::uuid"
    return f"""
create table public.{t} (
  id bigint generated always as identity primary key,
  company_id uuid not null,
  name text not null,
  amount numeric(12, 2) not null default 0,
  created_at timestamptz not null default now()
);
create index {t}_company_id_idx on public.{t} (company_id);
alter table public.{t} enable row level security;
create policy "{t} tenant read" on public.{t} for select to authenticated using ({own});
create policy "{t} tenant insert" on public.{t} for insert to authenticated with check ({own});
create policy "{t} tenant update" on public.{t} for update to authenticated using ({own}) with check ({own});
create policy "{t} tenant delete" on public.{t} for delete to authenticated using ({own});
"""


def write_project(root: Path) -> Path:
    """Write ``root/supabase/{migrations,seed.sql,config.toml}``; grants come from the hosted default privileges."""
    folder = root / "supabase" / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    for n, start in enumerate(range(1, TABLES + 1, PER_FILE), start=1):
        body = "".join(_table_sql(i) for i in range(start, min(start + PER_FILE, TABLES + 1)))
        (folder / f"202501010000{n:02d}_tenant_tables_{n}.sql").write_text(body)
    seed = []
    for i in range(1, TABLES + 1):
        values = ", ".join(f"('{tid}', '{tenant} row {r}')" for tenant, tid in TENANTS.items()
                           for r in range(1, ROWS_PER_TENANT + 1))
        seed.append(f"insert into public.{table_name(i)} (company_id, name) values {values};")
    (root / "supabase" / "seed.sql").write_text("\n".join(seed) + "\n")
    (root / "supabase" / "config.toml").write_text('project_id = "bench-rls"\n\n[api]\nschemas = ["public"]\n')
    return root


def write_contract(path: Path) -> Path:
    """The dbrunbook contract a user writes for this project (docs/contracts.md): defaults do the rest."""
    lines = [
        "# RLS contract of the 100-table benchmark project (format: docs/contracts.md).",
        "[contract]",
        'project = "bench-rls"',
        'tenant_claim = "company_id"',
        'tenant_column = "company_id"',
        'exposed_schemas = ["public"]',
        "",
        "[tenants]",
        *(f'{tenant} = "{tid}"' for tenant, tid in TENANTS.items()),
        "",
        "[[identities]]",
        'name = "anon"',
        'role = "anon"',
    ]
    for tenant in TENANTS:
        lines += ["", "[[identities]]", f'name = "{tenant}"', f'tenant = "{tenant}"', f'sub = "{USERS[tenant]}"']
    lines += ["", "[[identities]]", 'name = "service_role"', 'role = "service_role"', "",
              "# Every table uses the default oracle (company_id = the identity's company_id claim)."]
    lines += [f'[tables."public.{table_name(i)}"]' for i in range(1, TABLES + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _claims(tenant: str) -> str:
    """What a hand-written test puts in request.jwt.claims (supabase-test-helpers sets sub, role, email)."""
    return json.dumps({"sub": USERS[tenant], "role": "authenticated", "email": f"{tenant}@example.com",
                       "company_id": TENANTS[tenant]})


@dataclass(frozen=True)
class PgTap:
    """The generated pgTAP file and how many assertions (plan) and probes it holds."""

    text: str
    assertions: int
    probes: int


def _user_block(t: str, tenant: str) -> tuple[list[str], int]:
    own = TENANTS[tenant]
    other_tenant, other = next((n, v) for n, v in TENANTS.items() if n != tenant)
    first = list(TENANTS).index(tenant) * ROWS_PER_TENANT + 1
    ids = ", ".join(str(n) for n in range(first, first + ROWS_PER_TENANT))
    others = ROWS_PER_TENANT * (len(TENANTS) - 1)
    lines = [
        f"-- {t} as a {tenant} user",
        "set local role authenticated;",
        f"select set_config('request.jwt.claims', '{_claims(tenant)}', true);",
        f"select results_eq('select id from public.{t} order by id', array[{ids}]::bigint[],",
        f"  '{t}: {tenant} reads exactly its own rows');",
        f"select throws_ok($$insert into public.{t} (company_id, name) values ('{other}', 'x')$$, '42501', null,",
        f"  '{t}: {tenant} cannot insert a {other_tenant} row');",
        f"select throws_ok($$update public.{t} set company_id = '{other}'$$, '42501', null,",
        f"  '{t}: {tenant} cannot move its rows to {other_tenant}');",
        "savepoint w;",
        f"update public.{t} set name = 'touched';",
        "reset role;",
        f"select count(*) filter (where company_id <> '{own}') as strays from public.{t} where name = 'touched' \\gset",
        "rollback to savepoint w;",
        "release savepoint w;",
        f"select is(:strays::int, 0, '{t}: {tenant} unfiltered update touches only its rows');",
        "savepoint w;",
        f"delete from public.{t};",
        "reset role;",
        f"select count(*) as kept from public.{t} where company_id <> '{own}' \\gset",
        "rollback to savepoint w;",
        "release savepoint w;",
        f"select is(:kept::int, {others}, '{t}: {tenant} unfiltered delete keeps other tenants rows');",
        "reset role;",
    ]
    return lines, 5


def _anon_block(t: str) -> tuple[list[str], int]:
    lines = [
        f"-- {t} as anon",
        "set local role anon;",
        "select set_config('request.jwt.claims', '{\"role\": \"anon\"}', true);",
        f"select is_empty('select id from public.{t}', '{t}: anon reads nothing');",
        f"select throws_ok($$insert into public.{t} (company_id, name) values ('{TENANTS['acme']}', 'x')$$,",
        f"  '42501', null, '{t}: anon cannot insert');",
        "savepoint w;",
        f"update public.{t} set name = 'touched';",
        "reset role;",
        f"select count(*) as touched from public.{t} where name = 'touched' \\gset",
        "rollback to savepoint w;",
        "release savepoint w;",
        f"select is(:touched::int, 0, '{t}: anon updates nothing');",
        "savepoint w;",
        f"delete from public.{t};",
        "reset role;",
        f"select count(*) as kept from public.{t} \\gset",
        "rollback to savepoint w;",
        "release savepoint w;",
        f"select is(:kept::int, {ROWS_PER_TENANT * len(TENANTS)}, '{t}: anon deletes nothing');",
        "reset role;",
    ]
    return lines, 4


def _service_block(t: str) -> tuple[list[str], int]:
    total = ROWS_PER_TENANT * len(TENANTS)
    lines = [
        f"-- {t} as service_role",
        "set local role service_role;",
        "select set_config('request.jwt.claims', '{\"role\": \"service_role\"}', true);",
        f"select is((select count(*)::int from public.{t}), {total}, '{t}: service_role reads every row');",
        "savepoint w;",
        f"insert into public.{t} (company_id, name) values ('{TENANTS['acme']}', 'x') returning id as new_id \\gset",
        "rollback to savepoint w;",
        "release savepoint w;",
        f"select ok(:new_id > 0, '{t}: service_role inserts for any tenant');",
        "savepoint w;",
        f"update public.{t} set name = 'touched';",
        f"select count(*) as touched from public.{t} where name = 'touched' \\gset",
        "rollback to savepoint w;",
        "release savepoint w;",
        f"select is(:touched::int, {total}, '{t}: service_role updates every row');",
        "savepoint w;",
        f"delete from public.{t};",
        f"select count(*) as kept from public.{t} \\gset",
        "rollback to savepoint w;",
        "release savepoint w;",
        f"select is(:kept::int, 0, '{t}: service_role deletes every row');",
        "reset role;",
    ]
    return lines, 4


def pgtap_file() -> PgTap:
    """The pgTAP file a user would hand-write for the same matrix, one block per table x identity."""
    body: list[str] = []
    assertions = 0
    for i in range(1, TABLES + 1):
        t = table_name(i)
        blocks = [_anon_block(t), *(_user_block(t, tenant) for tenant in TENANTS), _service_block(t)]
        for lines, n in blocks:
            body += lines
            assertions += n
    head = ["begin;", "create extension if not exists pgtap with schema extensions;",
            f"select plan({assertions});"]
    tail = ["select * from finish();", "rollback;"]
    return PgTap("\n".join(head + body + tail) + "\n", assertions, TABLES * len(IDENTITIES) * len(OPERATIONS))


def user_lines(text: str, comment: str) -> int:
    """Lines a user writes: non-blank and not only a comment."""
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith(comment))
