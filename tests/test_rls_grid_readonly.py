"""On a read-only target the RLS grid keeps its write columns: each cell "not probed", with the reason."""

from __future__ import annotations

import html
import re

from conftest import Product, demo_target
from dbrunbook.targets.embedded import EmbeddedInfo

_GRID = re.compile(r'<table class="dbr-grid[^"]*"><caption>(?P<table>[^ <]+) .*?</table>', re.DOTALL)


def test_write_cells_skipped_on_a_read_only_target_show_as_not_probed(product: Product,
                                                                      supabase_server: EmbeddedInfo) -> None:
    run = product.run("rls_contracts/test_matrix.py", "-m", "rls", "--target=t", targets_toml=demo_target(),
                      env={"T_DB_URL": supabase_server.dsn}, timeout=240)
    assert run.returncode == 0, run.output[-3000:]
    page = run.report_files()["html"].read_text()
    grids = {m["table"]: m[0] for m in _GRID.finditer(page)}
    grid = grids["public.customers"]
    assert re.findall(r"<th>(select|insert|update|delete)</th>", grid) == ["select", "insert", "update", "delete"]
    rows = re.findall(r"<tr><th>([^<]+)</th>(.*?)</tr>", grid)
    states = {who: re.findall(r'data-state="([a-z_]+)"', tds) for who, tds in rows if who != "identity"}
    assert states["acme_owner"] == ["ok", "not_probed", "not_probed", "not_probed"], states
    assert len(states) == 6 and all(s[1:] == ["not_probed"] * 3 for s in states.values()), states
    # The cell's panel says why: the target is read-only, and the write probe would run in a rolled-back
    # transaction on a writable one.
    details = html.unescape(page[page.index('class="dbr-cell-details"'):])
    panel = re.search(r"public\.customers / acme_owner / insert: not probed.*?</div>", details, re.DOTALL)
    assert panel and "read-only" in panel[0], panel
