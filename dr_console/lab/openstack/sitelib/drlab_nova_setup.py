"""Nova's database set-up for the dr-console lab in one process (Debian's
python3): as four `nova-manage` runs it costs ~4 s of CPU each just to
import Nova, and on the lab's 2 cores that is the start-up's critical path.

    python3 drlab_nova_setup.py NOVA_CONF

Cell URLs are templates that Nova fills from its own [database] connection
and transport_url, so the mappings survive new MariaDB/RabbitMQ ports.
"""

import sys
import time

T0 = time.monotonic()

from nova.cmd import manage  # noqa: E402  (T0 includes the import)

CELL0_DB = "{scheme}://{username}:{password}@{hostname}:{port}/nova_cell0?{query}"
CELL1_DB = "{scheme}://{username}:{password}@{hostname}:{port}/{path}?{query}"
CELL1_MQ = "{scheme}://{username}:{password}@{hostname}:{port}/"


def main(conf: str) -> int:
    # nova-manage's own entry point parses the configuration, sets up the
    # databases and runs the first step; the others reuse that set-up
    # (oslo.db refuses to configure its engines twice).
    mark("imported")
    sys.argv = ["nova-manage", "--config-file", conf, "api_db", "sync"]
    if manage.main() not in (0, None):
        return fail("api_db sync")
    mark("api_db sync")
    cells = manage.CellV2Commands()
    if cells.map_cell0(database_connection=CELL0_DB) != 0:
        return fail("cell_v2 map_cell0")
    # 2: a cell with these URLs exists already (a re-run): fine.
    if cells.create_cell(name="cell1", database_connection=CELL1_DB,
                         transport_url=CELL1_MQ) not in (0, 2):
        return fail("cell_v2 create_cell")
    mark("cells mapped")
    # cell0's database through its mapping, then cell1's. (Syncing cell1 in
    # a second process alongside gained nothing on 2 busy cores.)
    if manage.DbCommands().sync() not in (0, None):
        return fail("db sync")
    mark("db sync (cell0, cell1)")
    return 0


def mark(step: str) -> None:
    print(f"drlab-step {time.monotonic() - T0:5.1f}s {step}")


def fail(step: str) -> int:
    print(f"nova-manage {step} failed", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
