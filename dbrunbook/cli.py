"""The ``dbrunbook`` console command: ``dbrunbook evidence-diff A.json B.json`` shows what changed."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbrunbook import dbstart
from dbrunbook.redact import REDACTOR


def _load(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"dbrunbook: cannot read evidence bundle {path}: {exc}") from None
    if not isinstance(data, dict) or "window" not in data or "target" not in data:
        raise SystemExit(f"dbrunbook: {path} is not a dbrunbook evidence bundle (reports/evidence/evidence-*.json)")
    return data


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _delta_lines(title: str, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va != vb:
            if isinstance(va, int | float) and isinstance(vb, int | float):
                lines.append(f"  {key}: {va} -> {vb} ({vb - va:+g})")
            else:
                lines.append(f"  {key}: {va!r} -> {vb!r}")
    return [f"{title}:", *lines] if lines else []


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human-readable differences between two bundles (A = before, B = after)."""
    out = [f"A: {a['target']['name']} ({a['target']['host']}) at {a['window']['collected_at']}",
           f"B: {b['target']['name']} ({b['target']['host']}) at {b['window']['collected_at']}"]
    out += _delta_lines("server settings", a.get("server") or {}, b.get("server") or {})
    ca, cb = a.get("connections") or {}, b.get("connections") or {}
    out += _delta_lines("connections", {k: ca.get(k) for k in ("used", "available", "headroom")},
                        {k: cb.get(k) for k in ("used", "available", "headroom")})
    out += _delta_lines("connections by application", ca.get("by_application") or {}, cb.get("by_application") or {})
    out += _delta_lines("connections by state", ca.get("by_state") or {}, cb.get("by_state") or {})
    da = (a.get("pg_stat_database") or [{}])[0] if a.get("pg_stat_database") else {}
    db = (b.get("pg_stat_database") or [{}])[0] if b.get("pg_stat_database") else {}
    counters = ("deadlocks", "conflicts", "sessions_killed", "sessions_fatal", "sessions_abandoned",
                "xact_commit", "xact_rollback", "temp_files")
    out += _delta_lines("pg_stat_database counters", {k: da.get(k) for k in counters},
                        {k: db.get(k) for k in counters})
    roots_a = {t["root"] for t in a.get("blocking_trees") or []}
    roots_b = {t["root"] for t in b.get("blocking_trees") or []}
    if roots_a or roots_b:
        out.append(f"blocking trees: {len(roots_a)} -> {len(roots_b)} (roots gone: {sorted(roots_a - roots_b)}, "
                   f"new: {sorted(roots_b - roots_a)}, still blocking: {sorted(roots_a & roots_b)})")
    for key in ("long_running", "idle_in_transaction"):
        pa, pb = set(a.get(key) or []), set(b.get(key) or [])
        if pa != pb:
            out.append(f"{key}: {len(pa)} -> {len(pb)} sessions (gone: {sorted(pa - pb)}, new: {sorted(pb - pa)})")
    prepared_a = {p["gid"] for p in a.get("prepared_xacts") or []}
    prepared_b = {p["gid"] for p in b.get("prepared_xacts") or []}
    if prepared_a != prepared_b:
        out.append(f"prepared transactions: {sorted(prepared_a)} -> {sorted(prepared_b)}")
    head_a = [m["version"] for m in (a.get("migrations") or {}).get("head", [])[:1]]
    head_b = [m["version"] for m in (b.get("migrations") or {}).get("head", [])[:1]]
    if head_a != head_b:
        out.append(f"migration head: {head_a[0] if head_a else None} -> {head_b[0] if head_b else None}")
    la, lb = a.get("probe_latency") or {}, b.get("probe_latency") or {}
    if la and lb:
        out.append(f"probe latency: p50 {la['p50_ms']} -> {lb['p50_ms']} ms, p95 {la['p95_ms']} -> {lb['p95_ms']} ms")
    errors = _delta_lines("collection errors", a.get("errors") or {}, b.get("errors") or {})
    out += errors
    if len(out) == 2:
        out.append("no differences in the compared sections")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dbrunbook`` console script."""
    parser = argparse.ArgumentParser(prog="dbrunbook", description="dbrunbook utilities (the checks run with pytest)")
    commands = parser.add_subparsers(dest="command", required=True)
    evidence_diff = commands.add_parser("evidence-diff", help="compare two evidence bundles (A = before, B = after)")
    evidence_diff.add_argument("before")
    evidence_diff.add_argument("after")
    dbstart.add_parser(commands)  # db start / db stop
    from dbrunbook.rls import init_cli

    init_cli.add_parser(commands)  # contract init
    args = parser.parse_args(argv)
    if args.command == "db":
        return dbstart.run(args)
    if args.command == "contract":
        return init_cli.run(args)
    if args.command == "evidence-diff":
        for line in diff(_load(args.before), _load(args.after)):
            sys.stdout.write(REDACTOR.text(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
