"""Run by tests/test_probe_turns.py in its own process (a clean one to fork): one probe transaction of
this process holds the turn for HOLD_S while a forked child opens another on a second connection.

argv: table, "seeded-write" | "seedless-read". Prints the child's result as ``ok <seconds waited>`` or
``error <sqlstate>``. The DSN comes on stdin, never argv.
"""

from __future__ import annotations

import os
import sys
import time

from dbrunbook import session
from dbrunbook.config import Thresholds

HOLD_S = 1.5
#: Far below HOLD_S: a child waiting on the parent's seeded row (not on its turn) fails with 55P03.
POLICY = session.SessionPolicy(read_only=False, thresholds=Thresholds(lock_timeout_ms=300))


def child(dsn: str, table: str, mode: str) -> str:
    conn = session.connect(dsn, POLICY)
    t0 = time.monotonic()
    try:
        if mode == "seeded-write":
            with session.seeding(f"insert into {table} (id) values (1)"), session.probe_transaction(conn, POLICY):
                pass
        else:  # forked inside the parent's seeding: this one has none
            with session.seeding(None), session.probe_transaction(conn, POLICY, writes=False) as tx:
                tx.execute("set transaction read only")
                tx.execute(f"select count(*) from {table}")
        return f"ok {time.monotonic() - t0:.2f}"
    except Exception as exc:
        return f"error {getattr(exc, 'sqlstate', type(exc).__name__)}"
    finally:
        conn.close()


def main() -> None:
    table, mode = sys.argv[1], sys.argv[2]
    dsn = sys.stdin.readline().strip()
    session.share_turns_with_forks(lambda: None)
    conn = session.connect(dsn, POLICY)
    read, write = os.pipe()
    with session.seeding(f"insert into {table} (id) values (1)"), session.probe_transaction(conn, POLICY):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.write(write, child(dsn, table, mode).encode())
                code = 0
            finally:
                os._exit(code)
        time.sleep(HOLD_S)
    os.close(write)
    os.waitpid(pid, 0)
    print(os.read(read, 200).decode())
    conn.close()


if __name__ == "__main__":
    main()
