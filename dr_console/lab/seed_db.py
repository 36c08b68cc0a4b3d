"""The lab's databases: an application database with real-looking data,
the read-only backup user dr-console connects as, and (without OpenStack)
stand-ins for the OpenStack service databases."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from dr_console.lab.mariadb import MariaDB

SERVICE_DBS = ("keystone", "nova", "nova_api", "nova_cell0", "cinder", "glance", "placement")
APP_DB = "shop"
READER = "drconsole"
# What mariadb-dump needs, and nothing that writes: --single-transaction
# needs no RELOAD (no FLUSH), PROCESS lets it read tablespace information.
READER_GRANTS = "SELECT, SHOW VIEW, LOCK TABLES, PROCESS, EVENT, TRIGGER"


def reader_password_file(lab_dir: Path) -> Path:
    return lab_dir / "secrets" / f"mysql-{READER}"


def ensure_reader(db: MariaDB, lab_dir: Path) -> None:
    """Create or re-key the backup user from its password file (0600), so
    the file and the server can never disagree after a restart."""
    path = reader_password_file(lab_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(18) + "\n")
    path.chmod(0o600)
    password = path.read_text().strip()
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS %s@'127.0.0.1' IDENTIFIED BY %s",
                    (READER, password))
        cur.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY %s", (READER, password))
        cur.execute(f"GRANT {READER_GRANTS} ON *.* TO %s@'127.0.0.1'", (READER,))


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
    """CREATE VIEW order_totals AS
        SELECT o.id AS order_id, SUM(i.qty * i.price) AS total
        FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id""",
    """CREATE TRIGGER products_stock_floor BEFORE UPDATE ON products FOR EACH ROW
        SET NEW.stock = GREATEST(NEW.stock, 0)""",
    """CREATE PROCEDURE customer_order_count(IN cid INT UNSIGNED)
        SELECT COUNT(*) FROM orders WHERE customer_id = cid""",
    """CREATE EVENT purge_cancelled ON SCHEDULE EVERY 1 DAY DISABLE
        DO DELETE FROM orders WHERE status = 'cancelled' AND total = 0 AND id < 0""",
]

# Names a naive dump parser would trip on: quotes, backslashes, the
# row separator inside a string.
_AWKWARD = ["O'Brien", "back\\slash", "paren),(trick", 'say "hi"', "Zoë Ünal", "semi;colon"]


def seed_shop(db: MariaDB, customers: int = 2000, products: int = 300,
              orders: int = 5000) -> dict[str, int]:
    """Create the application database once; return its row counts."""
    if not database_exists(db, APP_DB):
        _create_shop(db, customers, products, orders)
    return table_counts(db, APP_DB)


def _create_shop(db: MariaDB, n_customers: int, n_products: int, n_orders: int) -> None:
    rng = random.Random(42)  # the same shop every time, so row counts are stable
    base = datetime(2024, 1, 1)
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{APP_DB}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{APP_DB}`")
        for statement in _SHOP_DDL:
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
