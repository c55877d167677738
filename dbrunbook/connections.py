"""Connection slots: who holds them, what is left, and whether each service's pool still fits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbrunbook import resources, session
from dbrunbook.config import ServiceSpec

if TYPE_CHECKING:
    import psycopg

#: supabase-facts.md 5.5 (Supabase docs, compute-and-disk.mdx): (compute, DB max connections, pooler clients).
COMPUTE_LIMITS: tuple[tuple[str, int, int], ...] = (
    ("Nano (free) / Micro", 60, 200), ("Small", 90, 400), ("Medium", 120, 600), ("Large", 160, 800),
    ("XL", 240, 1000), ("2XL", 380, 1500), ("4XL", 480, 3000), ("8XL", 490, 6000), ("12XL", 500, 9000),
    ("16XL", 500, 12000),
)


@dataclass(frozen=True)
class Usage:
    """Slots of the cluster, from ``connections_usage.sql``."""

    max_connections: int
    superuser_reserved: int
    reserved: int
    used: int
    ours: int

    @property
    def available(self) -> int:
        """Slots an ordinary (non-superuser) role can use."""
        return max(0, self.max_connections - self.superuser_reserved - self.reserved)

    @property
    def headroom(self) -> int:
        """Slots still free for ordinary roles."""
        return max(0, self.available - self.used)

    def room_for(self, more: int, keep: int) -> bool:
        """Whether ``more`` connections still leave ``keep`` slots free (``pool_keep_free_slots``)."""
        return self.headroom - more >= keep

    @property
    def used_pct(self) -> float:
        """Share of the ordinary slots in use."""
        return 100.0 * self.used / self.available if self.available else 100.0

    def describe(self) -> str:
        """``12 of 97 usable slots in use (max_connections 100 - 3 superuser_reserved - 0 reserved)``."""
        return (f"{self.used} of {self.available} usable slots in use ({self.used_pct:.0f}%; max_connections "
                f"{self.max_connections} - superuser_reserved_connections {self.superuser_reserved} - "
                f"reserved_connections {self.reserved}); {self.ours} of them are dbrunbook's own probes")


@dataclass(frozen=True)
class PoolNeed:
    """What one service's pool would still open at ``pool_max_size``."""

    service: str
    pool_max_size: int
    holds: int
    behind_pooler: bool

    @property
    def wants(self) -> int:
        """Connections the pool may still open."""
        return max(0, self.pool_max_size - self.holds)


def usage(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy) -> Usage:
    """Current slot usage of the cluster."""
    row = session.query(conn, policy, resources.sql("connections_usage"))[0]
    return Usage(**row)


def breakdown(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy) -> list[dict[str, Any]]:
    """Connections by application_name, role and state."""
    return session.query(conn, policy, resources.sql("connections_breakdown"))


def totals_by(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, int]:
    """Sum the breakdown over one column (application_name, usename or state)."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[str(row[key])] = totals.get(str(row[key]), 0) + int(row["connections"])
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def pool_needs(services: Iterable[ServiceSpec], by_app: Mapping[str, int]) -> list[PoolNeed]:
    """Each service's pool against what it already holds (matched by application_name = service name).

    A service that goes through a pooler (``pooler_mode`` set) does not open its pool size in direct
    slots: the pooler's own pool does, so it is listed but not counted.
    """
    return [PoolNeed(s.name, s.pool_max_size, by_app.get(s.name, 0), s.pooler_mode is not None) for s in services]


def hosted_reference(usage: Usage) -> str:
    """The Supabase compute table as reference, with the row matching this max_connections marked."""
    lines = ["Supabase compute limits (supabase-facts.md 5.5): compute / DB max connections / pooler max clients"]
    for name, db_max, pooler in COMPUTE_LIMITS:
        mark = "  <- this project" if db_max == usage.max_connections else ""
        lines.append(f"  {name}: {db_max} / {pooler}{mark}")
    lines.append("Baseline connections (PostgREST, Storage, Auth, health checker) exist even when idle; more "
                 "slots mean a bigger compute add-on, or fewer direct connections (use the pooler).")
    return "\n".join(lines)


def is_hosted(host: str) -> bool:
    """Supabase-hosted database or pooler host."""
    name = host.rsplit(":", 1)[0].lower()
    return name.endswith(".supabase.co") or name.endswith(".supabase.com")
