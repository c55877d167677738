"""Generate the benchmark project (500 tables in supabase/migrations) and the drifts planted into it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TABLES = 500
PER_FILE = 100


def _table(i: int) -> str:
    t = f"t{i:04d}"
    return f"""
create table public.{t} (
  id bigint generated always as identity primary key,
  org_id uuid not null references public.orgs (id) on delete cascade,
  name text not null,
  status public.status_t not null default 'active',
  amount numeric(12, 2) not null default 0 constraint {t}_amount_check check (amount >= 0),
  payload jsonb not null default '{{}}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz
);
create index {t}_org_id_idx on public.{t} (org_id);
alter table public.{t} enable row level security;
create policy p_{t}_select on public.{t} for select to authenticated
  using ((select private.is_member(org_id)));
create policy p_{t}_write on public.{t} for insert to authenticated
  with check ((select private.is_member(org_id)));
create policy p_{t}_mfa on public.{t} as restrictive for all to authenticated
  using ((select auth.jwt() ->> 'aal') = 'aal2');
create trigger trg_{t} before update on public.{t} for each row execute function private.touch();
grant select, insert, update, delete on public.{t} to authenticated;
grant all on public.{t} to service_role;
"""


BASE = """
create extension if not exists pg_cron with schema pg_catalog;
create type public.status_t as enum ('active', 'paused', 'closed');
create schema if not exists private;
grant usage on schema private to authenticated, service_role;
create table public.orgs (id uuid primary key default gen_random_uuid(), name text not null);
create table public.members (
  org_id uuid not null references public.orgs (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null default 'member' check (role in ('member', 'admin')),
  primary key (org_id, user_id)
);
alter table public.orgs enable row level security;
alter table public.members enable row level security;
create function private.is_member(org uuid) returns boolean language sql stable security definer
  set search_path = '' as $$
  select exists (select 1 from public.members m where m.org_id = org and m.user_id = (select auth.uid()))
$$;
revoke execute on function private.is_member(uuid) from public, anon;
grant execute on function private.is_member(uuid) to authenticated, service_role;
create function private.touch() returns trigger language plpgsql set search_path = '' as $$
begin new.updated_at := now(); return new; end $$;
create function public.f_helper(n integer) returns integer language sql immutable set search_path = ''
  as $$ select n + 1 $$;
create function public.handle_new_user() returns trigger language plpgsql security definer
  set search_path = '' as $$ begin return new; end $$;
create trigger on_auth_user_created after insert on auth.users for each row
  execute function public.handle_new_user();
create sequence public.seq_invoice start 1000;
grant usage on sequence public.seq_invoice to authenticated;
select cron.schedule('purge-orgs', '0 3 * * *', $$delete from public.orgs where false$$);
alter role authenticated set statement_timeout = '10s';
"""

VIEWS = "\n".join(f"""
create view public.v{i:04d} with (security_invoker = true) as
  select t.id, t.org_id, t.name, o.name as org_name from public.t{i:04d} t join public.orgs o on o.id = t.org_id;
grant select on public.v{i:04d} to authenticated;""" for i in range(1, 51))


def write_project(root: Path) -> Path:
    """Write ``root/supabase/migrations`` (base, tables in files of 100, views); return root."""
    folder = root / "supabase" / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "20250101000000_base.sql").write_text(BASE)
    for n, start in enumerate(range(1, TABLES + 1, PER_FILE), start=1):
        body = "".join(_table(i) for i in range(start, min(start + PER_FILE, TABLES + 1)))
        (folder / f"2025010200{n:02d}00_tables_{n}.sql").write_text(body)
    (folder / "20250103000000_views.sql").write_text(VIEWS)
    return root


@dataclass(frozen=True)
class Planted:
    """One drift: the SQL that plants it, how dbrunbook names it, and a regex for SQL diff output."""

    label: str
    sql: str
    ours: tuple[str, str]  # (drift kind, object key) as dbrunbook reports it
    pattern: str  # searched (case-insensitive) in the SQL that `supabase db diff` / migra print


PLANTED: tuple[Planted, ...] = (
    Planted("schema created", "create schema planted authorization postgres", ("schemas", "planted"),
            r'schema "?planted"?'),
    Planted("extension installed", "create extension pg_trgm schema extensions", ("extensions", "pg_trgm"),
            r"pg_trgm"),
    Planted("table dropped", "drop table public.t0016 cascade", ("tables", "public.t0016"), r"t0016"),
    Planted("RLS disabled", "alter table public.t0001 disable row level security", ("tables", "public.t0001"),
            r"t0001\"?\s+(disable|enable) row level security"),
    Planted("RLS forced", "alter table public.t0002 force row level security", ("tables", "public.t0002"),
            r"t0002\"?\s+(no )?force row level security"),
    Planted("column added", "alter table public.t0003 add column planted_col text",
            ("columns", "public.t0003.planted_col"), r"planted_col"),
    Planted("column default changed", "alter table public.t0004 alter column amount set default 1",
            ("columns", "public.t0004.amount"), r"t0004.*amount\"? (set|drop) default"),
    Planted("column made nullable", "alter table public.t0005 alter column name drop not null",
            ("columns", "public.t0005.name"), r"t0005.*name\"? (set|drop) not null"),
    Planted("check constraint dropped", "alter table public.t0006 drop constraint t0006_amount_check",
            ("constraints", "public.t0006.t0006_amount_check"), r"t0006_amount_check"),
    Planted("index added", "create index planted_idx on public.t0007 (created_at)",
            ("indexes", "public.planted_idx"), r"planted_idx"),
    Planted("policy USING changed", "alter policy p_t0008_select on public.t0008 using (true)",
            ("policies", "public.t0008.p_t0008_select"), r"p_t0008_select"),
    Planted("restrictive policy made permissive",
            "drop policy p_t0009_mfa on public.t0009; create policy p_t0009_mfa on public.t0009 as permissive "
            "for all to authenticated using ((select auth.jwt() ->> 'aal') = 'aal2')",
            ("policies", "public.t0009.p_t0009_mfa"), r"p_t0009_mfa"),
    Planted("SECURITY DEFINER helper body tampered",
            "create or replace function private.is_member(org uuid) returns boolean language sql stable "
            "security definer set search_path = '' as $$ select true $$",
            ("functions", "private.is_member(org uuid)"), r"function \"?private\"?\.\"?is_member"),
    Planted("function search_path reset", "alter function public.f_helper(integer) reset search_path",
            ("functions", "public.f_helper(n integer)"), r"f_helper"),
    Planted("trigger disabled", "alter table public.t0011 disable trigger trg_t0011",
            ("triggers", "public.t0011.trg_t0011"), r"trg_t0011"),
    Planted("trigger on auth.users dropped", "drop trigger on_auth_user_created on auth.users",
            ("triggers", "auth.users.on_auth_user_created"), r"on_auth_user_created"),
    Planted("view security_invoker off", "alter view public.v0001 set (security_invoker = false)",
            ("views", "public.v0001"), r"v0001"),
    Planted("sequence changed", "alter sequence public.seq_invoice cache 10",
            ("sequences", "public.seq_invoice"), r"seq_invoice"),
    Planted("enum value added", "alter type public.status_t add value 'archived'",
            ("types", "public.status_t"), r"archived"),
    Planted("table added to publication", "alter publication supabase_realtime add table public.t0012",
            ("publications", "supabase_realtime"), r"publication.*t0012|t0012.*publication"),
    Planted("table privilege revoked", "revoke delete on public.t0013 from authenticated",
            ("privileges", "table public.t0013 to authenticated"), r"(grant|revoke)[^;]*t0013[^;]*authenticated"),
    Planted("column grant", "grant update (name) on public.t0014 to anon",
            ("privileges", "column public.t0014.name to anon"), r"update ?\(\"?name\"?\).*t0014"),
    Planted("function EXECUTE to anon", "grant execute on function private.is_member(uuid) to anon",
            ("privileges", "function private.is_member(org uuid) to anon"), r"execute.*is_member.*anon"),
    Planted("schema USAGE to anon", "grant usage on schema private to anon",
            ("privileges", "schema private to anon"), r"usage on schema \"?private\"?.*anon"),
    Planted("default privileges", "alter default privileges for role postgres in schema private "
                                  "grant select on tables to anon",
            ("default_privileges", "for role postgres in private on tables to anon"), r"default privileges"),
    Planted("table owner changed", "alter table public.t0015 owner to service_role",
            ("ownership", "table public.t0015"), r"t0015\"? owner to"),
    Planted("role setting (ALTER ROLE authenticator SET)", "alter role authenticator set statement_timeout = '1min'",
            ("role_settings", "role authenticator: statement_timeout"), r"authenticator.*statement_timeout"),
    Planted("cron job rescheduled", "update cron.job set schedule = '0 4 * * *' where jobname = 'purge-orgs'",
            ("cron_jobs", "purge-orgs"), r"purge-orgs|cron\.schedule"),
)
