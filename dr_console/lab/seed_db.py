"""The lab's databases: an application database with real-looking data,
the accounts dr-console connects as (a backup account that reads and a
restore account that writes, each with per-database grants only), and
(without OpenStack) stand-ins for the OpenStack service databases.

The grants are the minimum found by experiment on MariaDB 10.11; the README
("Accounts and least privilege") says why each one is there and what fails
without it."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import pymysql

from dr_console.lab.mariadb import MariaDB

SERVICE_DBS = ("keystone", "nova", "nova_api", "nova_cell0", "cinder", "glance", "placement")
APP_DB = "shop"
# The databases the lab's site file covers: both accounts get grants on these only.
COVERED_DBS = (*SERVICE_DBS, APP_DB)
READER = "drconsole"
RESTORER = "drrestore"
# Owns shop's view, trigger, routine and event: a definer the restore account
# may name without SET USER, because it is that account's default role.
OWNER_ROLE = "shop_owner"

# Backup account, per database: inventory sees a schema once it has any
# grant there; mariadb-dump with DUMP_OPTIONS needs SELECT (data), SHOW VIEW
# (views), TRIGGER (triggers: silently left out without it) and EVENT
# (SHOW EVENTS). --single-transaction takes no LOCK TABLES, and this
# mariadb-dump reads no tablespaces: no LOCK TABLES, no PROCESS.
BACKUP_GRANTS = "SELECT, SHOW VIEW, TRIGGER, EVENT"
# Routine bodies: on 10.11 only their definer or SELECT on mysql.proc sees
# them (11.3+ has SHOW CREATE ROUTINE per database); without it the dump
# silently holds no routines. mysql.proc holds routine code, no credentials.
BACKUP_PROC = "`mysql`.`proc`"
# Restore account, per covered database, on the schemas `run metadata-db`
# uses: the live one, `<db>__staging_<run>` (loaded, then emptied by the
# swap) and `<db>__pre_restore_<ts>` (what the swap keeps); and
# `<db>__drill_<run>`, the scratch schema `drill metadata-db` loads and drops.
# No UPDATE or DELETE anywhere: a restore loads and renames, it never edits rows.
_RESTORE_LIVE = ("SELECT, INSERT, CREATE, DROP, ALTER, CREATE VIEW, SHOW VIEW, TRIGGER, "
                 "CREATE ROUTINE, ALTER ROUTINE, EVENT")
RESTORE_GRANTS = (
    ("", _RESTORE_LIVE),
    # LOCK TABLES: the serial load (a server not tuned for restore) replays the dump's own;
    # CREATE TEMPORARY TABLES: the bulk load's probe loads one row into a temporary table.
    ("__staging_", _RESTORE_LIVE + ", LOCK TABLES, CREATE TEMPORARY TABLES"),
    ("__pre_restore_", "SELECT, INSERT, CREATE, DROP, CREATE VIEW, TRIGGER, CREATE ROUTINE, EVENT"),
    # Loaded like staging, never swapped: the swap's SHOW VIEW is not needed.
    ("__drill_", "SELECT, INSERT, CREATE, DROP, ALTER, CREATE VIEW, TRIGGER, CREATE ROUTINE, "
                 "ALTER ROUTINE, EVENT, LOCK TABLES, CREATE TEMPORARY TABLES"),
)
# What shop's own objects do when they run as their definer.
OWNER_GRANTS = "SELECT, UPDATE, DELETE, TRIGGER, EVENT, EXECUTE"


def _account(user: str) -> str:
    # Statements are built as text: a `%` in a grant's pattern would trip
    # the driver's parameter formatting, and the names are the lab's own.
    return f"'{user}'@'127.0.0.1'"


def reader_password_file(lab_dir: Path) -> Path:
    return lab_dir / "secrets" / f"mysql-{READER}"


def restorer_password_file(lab_dir: Path) -> Path:
    return lab_dir / "secrets" / f"mysql-{RESTORER}"


def _password(path: Path) -> str:
    """The account's password, made once into its 0600 file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(18) + "\n")
    path.chmod(0o600)
    return path.read_text().strip()


def schema_pattern(database: str, suffix: str = "") -> str:
    """A grant's database name: `_` and `%` are wildcards there, so the
    database's own are escaped; a non-empty suffix names its restore
    schemas, `<db><suffix><anything>`."""
    escaped = database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    if suffix:
        escaped += suffix.replace("_", "\\_") + "%"
    return "`" + escaped.replace("`", "``") + "`"


def grant_database(db: MariaDB, database: str) -> None:
    """Cover one more database: the backup and the restore account get
    their grants on it (and the restore account on its restore schemas)."""
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"GRANT {BACKUP_GRANTS} ON {schema_pattern(database)}.* TO {_account(READER)}")
        for suffix, privileges in RESTORE_GRANTS:
            cur.execute(f"GRANT {privileges} ON {schema_pattern(database, suffix)}.* "
                        f"TO {_account(RESTORER)}")


def revoke_database(db: MariaDB, database: str) -> None:
    """Undo grant_database (the tests' scratch databases)."""
    with db.connect() as conn, conn.cursor() as cur:
        for user, suffix in ((READER, ""), *((RESTORER, s) for s, _ in RESTORE_GRANTS)):
            try:
                cur.execute(f"REVOKE ALL PRIVILEGES ON {schema_pattern(database, suffix)}.* "
                            f"FROM {_account(user)}")
            except pymysql.err.OperationalError as exc:
                if exc.args[0] != 1141:  # there was no such grant
                    raise


def _ensure_user(cur: pymysql.cursors.Cursor, user: str, password: str) -> None:
    """Create or re-key `user` from its password file, with no privilege
    at all (a lab made before these grants gave the reader a global SELECT)."""
    cur.execute("CREATE USER IF NOT EXISTS %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
    cur.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
    cur.execute(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {_account(user)}")


def ensure_owner_role(db: MariaDB) -> None:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE ROLE IF NOT EXISTS {OWNER_ROLE}")
        cur.execute(f"GRANT {OWNER_GRANTS} ON {schema_pattern(APP_DB)}.* TO {OWNER_ROLE}")


def ensure_accounts(db: MariaDB, lab_dir: Path) -> None:
    """The backup and the restore account, exactly as the README lists
    them, whatever an older lab had granted. Grants name databases, so
    they may come before the databases do (OpenStack makes its own)."""
    ensure_owner_role(db)
    with db.connect() as conn, conn.cursor() as cur:
        _ensure_user(cur, READER, _password(reader_password_file(lab_dir)))
        cur.execute(f"GRANT SELECT ON {BACKUP_PROC} TO {_account(READER)}")
        _ensure_user(cur, RESTORER, _password(restorer_password_file(lab_dir)))
        cur.execute(f"GRANT {OWNER_ROLE} TO {_account(RESTORER)}")
        cur.execute(f"SET DEFAULT ROLE {OWNER_ROLE} FOR {_account(RESTORER)}")
    for database in COVERED_DBS:
        grant_database(db, database)


def database_exists(db: MariaDB, name: str) -> bool:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
        return cur.fetchone() is not None


_SHOP_DDL = [
    """CREATE TABLE customers (
        id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
        email VARCHAR(190) NOT NULL UNIQUE,
        name VARCHAR(190) NOT NULL,
        country CHAR(2) NOT NULL,
        created_at DATETIME NOT NULL
    ) ENGINE=InnoDB""",
    """CREATE TABLE products (
        id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
        sku VARCHAR(32) NOT NULL UNIQUE,
        title VARCHAR(255) NOT NULL,
        price DECIMAL(10,2) NOT NULL,
        stock INT NOT NULL DEFAULT 0
    ) ENGINE=InnoDB""",
    """CREATE TABLE orders (
        id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
        customer_id INT UNSIGNED NOT NULL,
        status ENUM('new','paid','shipped','cancelled') NOT NULL,
        total DECIMAL(12,2) NOT NULL DEFAULT 0,
        note TEXT NULL,
        created_at DATETIME NOT NULL,
        KEY ix_orders_customer (customer_id),
        CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
    ) ENGINE=InnoDB""",
    """CREATE TABLE order_items (
        order_id INT UNSIGNED NOT NULL,
        product_id INT UNSIGNED NOT NULL,
        qty SMALLINT UNSIGNED NOT NULL,
        price DECIMAL(10,2) NOT NULL,
        PRIMARY KEY (order_id, product_id),
        CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
        CONSTRAINT fk_items_product FOREIGN KEY (product_id) REFERENCES products (id)
    ) ENGINE=InnoDB""",
    """CREATE TABLE invoice_pdfs (
        order_id INT UNSIGNED PRIMARY KEY,
        content MEDIUMBLOB NOT NULL,
        CONSTRAINT fk_pdf_order FOREIGN KEY (order_id) REFERENCES orders (id)
    ) ENGINE=InnoDB""",
]

# The shop's stored objects, owned by OWNER_ROLE (a dump replays their
# DEFINER clause; another account as definer would need SET USER to restore).
_DEFINER = f"DEFINER=`{OWNER_ROLE}`"
SHOP_OBJECTS = (
    ("VIEW", "order_totals", f"""CREATE {_DEFINER} VIEW order_totals AS
        SELECT o.id AS order_id, SUM(i.qty * i.price) AS total
        FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id"""),
    ("TRIGGER", "products_stock_floor", f"""CREATE {_DEFINER} TRIGGER products_stock_floor
        BEFORE UPDATE ON products FOR EACH ROW SET NEW.stock = GREATEST(NEW.stock, 0)"""),
    ("PROCEDURE", "customer_order_count", f"""CREATE {_DEFINER} PROCEDURE
        customer_order_count(IN cid INT UNSIGNED)
        SELECT COUNT(*) FROM orders WHERE customer_id = cid"""),
    ("EVENT", "purge_cancelled", f"""CREATE {_DEFINER} EVENT purge_cancelled
        ON SCHEDULE EVERY 1 DAY DISABLE
        DO DELETE FROM orders WHERE status = 'cancelled' AND total = 0 AND id < 0"""),
)

# Names a naive dump parser would trip on: quotes, backslashes, the
# row separator inside a string.
_AWKWARD = ["O'Brien", "back\\slash", "paren),(trick", 'say "hi"', "Zoë Ünal", "semi;colon"]


def seed_shop(db: MariaDB, customers: int = 2000, products: int = 300,
              orders: int = 5000) -> dict[str, int]:
    """Create the application database once; return its row counts."""
    ensure_owner_role(db)  # before any object names it, or it would name a user
    if not database_exists(db, APP_DB):
        _create_shop(db, customers, products, orders)
    ensure_shop_objects(db)
    return table_counts(db, APP_DB)


def object_definers(cur: pymysql.cursors.Cursor, database: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> DEFINER of the views, triggers, routines and events of `database`."""
    found: dict[tuple[str, str], str] = {}
    for query in (
            "SELECT 'VIEW', TABLE_NAME, DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA=%s",
            "SELECT 'TRIGGER', TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA=%s",
            "SELECT ROUTINE_TYPE, ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES "
            "WHERE ROUTINE_SCHEMA=%s",
            "SELECT 'EVENT', EVENT_NAME, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA=%s"):
        cur.execute(query, (database,))
        found.update({(str(kind), str(name)): str(definer) for kind, name, definer in cur.fetchall()})
    return found


def ensure_shop_objects(db: MariaDB) -> None:
    """Create shop's stored objects, or re-own them: a lab seeded before
    OWNER_ROLE existed had them defined by labadmin. A role shows as `role@`."""
    with db.connect(APP_DB) as conn, conn.cursor() as cur:
        definers = object_definers(cur, APP_DB)
        for kind, name, create in SHOP_OBJECTS:
            if definers.get((kind, name), "").rstrip("@") == OWNER_ROLE:
                continue
            cur.execute(f"DROP {kind} IF EXISTS `{name}`")
            cur.execute(create)


def _create_shop(db: MariaDB, n_customers: int, n_products: int, n_orders: int) -> None:
    rng = random.Random(42)  # the same shop every time, so row counts are stable
    base = datetime(2024, 1, 1)
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{APP_DB}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{APP_DB}`")
        for statement in _SHOP_DDL:
            cur.execute(statement)
        for _kind, _name, statement in SHOP_OBJECTS:
            cur.execute(statement)
        cur.executemany(
            "INSERT INTO customers (email, name, country, created_at) VALUES (%s,%s,%s,%s)",
            [(f"customer{i}@example.test",
              _AWKWARD[i % len(_AWKWARD)] + f" {i}" if i % 97 == 0 else f"Customer {i}",
              rng.choice(["DE", "FR", "NL", "US", "JP", "BR"]),
              base + timedelta(minutes=rng.randrange(500_000)))
             for i in range(1, n_customers + 1)])
        cur.executemany(
            "INSERT INTO products (sku, title, price, stock) VALUES (%s,%s,%s,%s)",
            [(f"SKU-{i:05d}", f"Product {i}", round(rng.uniform(1, 500), 2), rng.randrange(1000))
             for i in range(1, n_products + 1)])
        cur.executemany(
            "INSERT INTO orders (customer_id, status, note, created_at) VALUES (%s,%s,%s,%s)",
            [(rng.randrange(1, n_customers + 1),
              rng.choice(["new", "paid", "paid", "shipped", "cancelled"]),
              rng.choice([None, "", "leave at door", "gift (wrap it), please", "it's fine"]),
              base + timedelta(minutes=rng.randrange(500_000)))
             for _ in range(n_orders)])
        items = []
        for order_id in range(1, n_orders + 1):
            for product_id in rng.sample(range(1, n_products + 1), rng.randrange(1, 5)):
                items.append((order_id, product_id, rng.randrange(1, 10), round(rng.uniform(1, 500), 2)))
        for start in range(0, len(items), 5000):
            cur.executemany(
                "INSERT INTO order_items (order_id, product_id, qty, price) VALUES (%s,%s,%s,%s)",
                items[start:start + 5000])
        cur.execute("UPDATE orders o JOIN order_totals t ON t.order_id = o.id SET o.total = t.total")
        cur.executemany(
            "INSERT INTO invoice_pdfs (order_id, content) VALUES (%s,%s)",
            [(order_id, b"%PDF-1.4\n" + rng.randbytes(2048)) for order_id in range(1, 51)])


def table_counts(db: MariaDB, database: str) -> dict[str, int]:
    """Exact row counts of the base tables (information_schema's are estimates)."""
    with db.connect(database) as conn, conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'", (database,))
        names = sorted(row[0] for row in cur.fetchall())
        counts = {}
        for name in names:
            cur.execute(f"SELECT COUNT(*) FROM `{name}`")
            counts[name] = int(cur.fetchone()[0])
        return counts


# Without OpenStack: small stand-ins so every downstream piece (inventory,
# dumps, restores) has the same seven databases to work with.
_PLACEHOLDERS: dict[str, list[tuple[str, str, list[tuple[object, ...]]]]] = {
    "keystone": [("project", "id VARCHAR(64) PRIMARY KEY, name VARCHAR(64), enabled BOOL",
                  [("p-admin", "admin", 1), ("p-demo", "demo", 1)]),
                 ("user", "id VARCHAR(64) PRIMARY KEY, name VARCHAR(64)",
                  [("u-admin", "admin"), ("u-nova", "nova")])],
    "nova": [("instances", "id INT PRIMARY KEY, hostname VARCHAR(64), vm_state VARCHAR(16)",
              [(1, "mystery-box", "active"), (2, "web-1", "active")])],
    "nova_api": [("flavors", "id INT PRIMARY KEY, name VARCHAR(64), memory_mb INT, vcpus INT",
                  [(1, "m1.tiny", 512, 1), (2, "m1.small", 2048, 1)])],
    "nova_cell0": [("instances", "id INT PRIMARY KEY, hostname VARCHAR(64), vm_state VARCHAR(16)",
                    [(1, "failed-build", "error")])],
    "cinder": [("volumes", "id VARCHAR(36) PRIMARY KEY, display_name VARCHAR(255), size INT",
                [("v-1", "metadata-db-data", 1), ("v-2", "scratch-data", 1)])],
    "glance": [("images", "id VARCHAR(36) PRIMARY KEY, name VARCHAR(255), size BIGINT",
                [("i-1", "cirros", 12716032)])],
    "placement": [("resource_providers", "id INT PRIMARY KEY, name VARCHAR(200), uuid CHAR(36)",
                   [(1, "lab-compute", "00000000-0000-0000-0000-000000000001")])],
}


def seed_service_placeholders(db: MariaDB) -> None:
    for name, tables in _PLACEHOLDERS.items():
        if database_exists(db, name):
            continue
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            cur.execute(f"USE `{name}`")
            for table, columns, rows in tables:
                cur.execute(f"CREATE TABLE `{table}` ({columns}) ENGINE=InnoDB")
                marks = ",".join(["%s"] * len(rows[0]))
                cur.executemany(f"INSERT INTO `{table}` VALUES ({marks})", rows)
