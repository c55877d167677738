"""``dbrunbook contract init``: which target to read, where to write; the inference is in rls/init.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dbrunbook import resources, session
from dbrunbook.config import TargetSpec, Thresholds, load_targets
from dbrunbook.exceptions import DbrunbookError
from dbrunbook.rls import discovery
from dbrunbook.rls import init as contract_init


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``contract init`` (called by dbrunbook/cli.py)."""
    contract = commands.add_parser("contract", help="RLS contracts (docs/contracts.md)")
    sub = contract.add_subparsers(dest="contract_command", required=True)
    init = sub.add_parser("init", help="read a target and write a contract skeleton")
    init.add_argument("--workdir", type=Path, help="project folder holding supabase/: built as the embedded target")
    init.add_argument("--target", help="a target of the targets file (its DB URL env var must be set)")
    init.add_argument("--targets-file", type=Path, default=None, help="default: ./dbrunbook.toml when present")
    init.add_argument("--schemas", help="exposed schemas, comma-separated (default: supabase/config.toml [api] "
                      "schemas, pgrst.db_schemas, else public,graphql_public)")
    init.add_argument("--out", type=Path, default=Path("contracts.toml"), help="default: contracts.toml")
    init.add_argument("--force", action="store_true", help="overwrite --out and its seed template")


def _fail(message: str) -> int:
    sys.stderr.write(f"dbrunbook contract init: {message}\n")
    return 4


def run(args: argparse.Namespace) -> int:
    """Resolve the target, infer, write the contract and its seed template.

    Exit 4 on usage errors, 6 when the project does not build (as pytest's setup error).
    """
    out: Path = args.out
    seed = out.with_name(out.stem + ".seed.sql")
    if not args.force and (out.exists() or seed.exists()):
        return _fail(f"{out if out.exists() else seed} exists; pass --force to overwrite it")
    spec: TargetSpec | None = None
    if args.target:
        path = args.targets_file or (Path("dbrunbook.toml") if Path("dbrunbook.toml").is_file() else None)
        try:
            specs = load_targets(path)
        except Exception as exc:
            return _fail(str(exc).splitlines()[0])
        if args.target not in specs:
            return _fail(f"unknown target {args.target!r} in {path}; one of {', '.join(sorted(specs))}")
        spec = specs[args.target]
    workdir: Path | None = args.workdir
    if workdir is None and spec is not None and spec.kind == "embedded":
        workdir = spec.workdir or resources.demo_workdir()
    if workdir is None and spec is None:
        return _fail("say what to read: --workdir DIR (a Supabase project) or --target NAME")
    if workdir is not None and not (workdir / "supabase").is_dir():
        return _fail(f"--workdir {workdir} has no supabase/ folder")
    thresholds = spec.thresholds if spec else Thresholds()
    server = None
    if workdir is not None:
        from dbrunbook.targets.embedded import EmbeddedServer

        server = EmbeddedServer(workdir.resolve())
        try:
            dsn, project = server.start().dsn, workdir.resolve().name
        except (DbrunbookError, OSError) as exc:  # a migration that fails: its file, statement and error
            server.stop()
            sys.stderr.write(f"dbrunbook contract init: the project could not be built: {exc}\n")
            return 6
    else:
        from dbrunbook.targets import url

        assert spec is not None
        target = url.resolve(spec)
        if not target.dsn:
            return _fail(f"target {spec.name}: {target.problem}")
        dsn, project = target.dsn, spec.name
    try:
        policy = session.SessionPolicy(read_only=True, thresholds=thresholds)
        conn = session.connect(dsn, policy, target=project)
        try:
            if args.schemas:
                schemas = sorted({x.strip() for x in args.schemas.split(",") if x.strip()})
            else:
                schemas = discovery.exposed_schemas(conn, policy, None)
                schemas = sorted(set(schemas) | set(contract_init.config_schemas(workdir)))
            sk = contract_init.infer(conn, policy, project=project, schemas=schemas)
        finally:
            conn.close()
    finally:
        if server is not None:
            server.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(contract_init.render(sk, seed.name), encoding="utf-8")
    seed.write_text(contract_init.seed_template(sk), encoding="utf-8")
    tenancy = (f"membership ({sk.membership.table})" if sk.membership
               else f"tenant column {sk.tenant_column}" if sk.tenant_column else "not found (CHECK)")
    sys.stdout.write(f"wrote {out} ({len(sk.tables)} tables, {len(sk.ignored)} ignored, tenancy: {tenancy}, "
                     f"{len(sk.users)} tenant users) and {seed}\n"
                     f"next: review the CHECK lines, then pytest -m rls --target=... --contracts={out}\n")
    return 0
