"""An OpenStack-like (nova) database generated inside MariaDB with the
SEQUENCE engine, so a ~1 GB database takes seconds of Python and no client
round trips. Rows carry what makes real dumps hard: JSON with quotes and
backslashes, NULLs, multi-line tracebacks, binary user data (hex-dumped),
UUIDs, dates and secondary indexes. Used by bench_restore.py and the
restore integration tests."""

from __future__ import annotations

from typing import Any

# Rows per 100 MB of dump, calibrated against mariadb-dump output (see
# bench_restore.py); the bench scales them linearly with --size-mb.
ROWS_PER_100MB = {
    "instances": 20_000,
    "instance_extra": 20_000,
    "instance_info_caches": 20_000,
    "block_device_mapping": 31_000,
    "instance_actions": 62_000,
    "instance_actions_events": 124_000,
    "instance_faults": 4_000,
}

DDL = [
    """CREATE TABLE instances (
        id INT NOT NULL AUTO_INCREMENT, created_at DATETIME, updated_at DATETIME,
        deleted_at DATETIME, uuid VARCHAR(36) NOT NULL, user_id VARCHAR(255),
        project_id VARCHAR(255), hostname VARCHAR(255), display_name VARCHAR(255),
        display_description TEXT, vm_state VARCHAR(255), task_state VARCHAR(255),
        power_state INT, memory_mb INT, vcpus INT, root_gb INT, host VARCHAR(255),
        node VARCHAR(255), image_ref VARCHAR(255), launched_at DATETIME,
        key_data MEDIUMTEXT, user_data MEDIUMBLOB, locked TINYINT(1), deleted INT,
        PRIMARY KEY (id), UNIQUE KEY uniq_instances0uuid (uuid),
        KEY instances_project_id_deleted_idx (project_id, deleted),
        KEY instances_host_deleted_idx (host, deleted), KEY instances_created_at_idx (created_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3""",
    """CREATE TABLE instance_extra (
        id INT NOT NULL AUTO_INCREMENT, created_at DATETIME, instance_uuid VARCHAR(36) NOT NULL,
        numa_topology TEXT, pci_requests TEXT, flavor TEXT, vcpu_model TEXT,
        migration_context TEXT, device_metadata TEXT, deleted INT,
        PRIMARY KEY (id), KEY instance_extra_idx (instance_uuid)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3""",
    """CREATE TABLE instance_info_caches (
        id INT NOT NULL AUTO_INCREMENT, created_at DATETIME, instance_uuid VARCHAR(36) NOT NULL,
        network_info MEDIUMTEXT, deleted INT,
        PRIMARY KEY (id), UNIQUE KEY uniq_instance_info_caches0instance_uuid (instance_uuid)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3""",
    """CREATE TABLE block_device_mapping (
        id INT NOT NULL AUTO_INCREMENT, created_at DATETIME, device_name VARCHAR(255),
        delete_on_termination TINYINT(1), snapshot_id VARCHAR(36), volume_id VARCHAR(36),
        volume_size INT, no_device TINYINT(1), connection_info MEDIUMTEXT,
        instance_uuid VARCHAR(36), source_type VARCHAR(255), destination_type VARCHAR(255),
        boot_index INT, image_id VARCHAR(36), uuid VARCHAR(36), attachment_id VARCHAR(36),
        deleted INT, PRIMARY KEY (id), UNIQUE KEY uniq_block_device_mapping0uuid (uuid),
        KEY block_device_mapping_instance_uuid_idx (instance_uuid),
        KEY block_device_mapping_volume_id_idx (volume_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3""",
    """CREATE TABLE instance_actions (
        id INT NOT NULL AUTO_INCREMENT, created_at DATETIME, action VARCHAR(255),
        instance_uuid VARCHAR(36), request_id VARCHAR(255), user_id VARCHAR(255),
        project_id VARCHAR(255), start_time DATETIME, finish_time DATETIME, message VARCHAR(255),
        deleted INT, PRIMARY KEY (id),
        KEY instance_uuid_idx (instance_uuid), KEY request_id_idx (request_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3""",
    """CREATE TABLE instance_actions_events (
        id INT NOT NULL AUTO_INCREMENT, created_at DATETIME, event VARCHAR(255),
        action_id INT, start_time DATETIME, finish_time DATETIME, result VARCHAR(255),
        traceback TEXT, host VARCHAR(255), details TEXT, deleted INT,
        PRIMARY KEY (id), KEY action_id (action_id),
        CONSTRAINT instance_actions_events_ibfk_1 FOREIGN KEY (action_id) REFERENCES instance_actions (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3""",
    """CREATE TABLE instance_faults (
        id INT NOT NULL AUTO_INCREMENT, created_at DATETIME, instance_uuid VARCHAR(36),
        code INT NOT NULL, message VARCHAR(255), details MEDIUMTEXT, host VARCHAR(255),
        deleted INT, PRIMARY KEY (id), KEY instance_faults_instance_uuid_deleted_created_at_idx
        (instance_uuid, deleted, created_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3""",
    """CREATE TRIGGER instances_touch BEFORE UPDATE ON instances FOR EACH ROW
        SET NEW.updated_at = NOW()""",
]

# A deterministic UUID-looking string from a number and a salt.
_UUID = ("CONCAT_WS('-', SUBSTR(MD5(CONCAT('{salt}', {n})), 1, 8), SUBSTR(MD5(CONCAT('{salt}', {n})), 9, 4), "
         "SUBSTR(MD5(CONCAT('{salt}', {n})), 13, 4), SUBSTR(MD5(CONCAT('{salt}', {n})), 17, 4), "
         "SUBSTR(MD5(CONCAT('{salt}', {n})), 21, 12))")


def uuid(n: str, salt: str = "i") -> str:
    return _UUID.format(n=n, salt=salt)


_FILL = {
    "instances": f"""INSERT INTO instances (created_at, updated_at, deleted_at, uuid, user_id, project_id,
        hostname, display_name, display_description, vm_state, task_state, power_state, memory_mb,
        vcpus, root_gb, host, node, image_ref, launched_at, key_data, user_data, locked, deleted)
        SELECT '2024-01-01' + INTERVAL seq MINUTE, '2024-02-01' + INTERVAL seq MINUTE,
        IF(seq % 7 = 0, '2024-03-01' + INTERVAL seq MINUTE, NULL), {uuid('seq')},
        MD5(CONCAT('u', seq % 500)), MD5(CONCAT('p', seq % 120)), CONCAT('vm-', seq, '.example.test'),
        CONCAT('server ', seq, IF(seq % 13 = 0, ' O''Brien; "quoted" \\\\ path', '')),
        IF(seq % 3 = 0, NULL, CONCAT('Line one\\nline two; it''s ', seq)),
        ELT(1 + seq % 3, 'active', 'stopped', 'error'), NULL, seq % 5, 2048 * (1 + seq % 8),
        1 + seq % 16, 20 * (1 + seq % 5), CONCAT('compute-', seq % 64), CONCAT('compute-', seq % 64),
        {uuid('seq % 40', 'img')}, '2024-01-01' + INTERVAL seq MINUTE,
        CONCAT('ssh-ed25519 ', TO_BASE64(UNHEX(SHA2(seq, 512))), ' user@host'),
        UNHEX(CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512), SHA2(seq + 2, 512))),
        seq % 2, IF(seq % 7 = 0, seq, 0)
        FROM seq_1_to_{{n}}""",
    "instance_extra": f"""INSERT INTO instance_extra (created_at, instance_uuid, numa_topology,
        pci_requests, flavor, vcpu_model, migration_context, device_metadata, deleted)
        SELECT '2024-01-01' + INTERVAL seq MINUTE, {uuid('seq')}, NULL, '[]',
        CONCAT('{{"cur": {{"nova_object.name": "Flavor", "nova_object.namespace": "nova", ',
               '"nova_object.version": "1.2", "nova_object.data": {{"id": ', seq % 20,
               ', "name": "m1.', ELT(1 + seq % 4, 'small', 'medium', 'large', 'xlarge'),
               '", "memory_mb": ', 2048 * (1 + seq % 8), ', "vcpus": ', 1 + seq % 16,
               ', "extra_specs": {{"hw:cpu_policy": "dedicated", "quota:disk_read_bytes_sec": "',
               seq * 10, '"}}, "description": "it\\\\''s a \\\\"flavor\\\\""}}}}, ',
               '"old": null, "new": null}}'),
        CONCAT('{{"nova_object.name": "VirtCPUModel", "nova_object.data": {{"arch": "x86_64", ',
               '"vendor": "Intel", "features": [', REPEAT('"avx2", ', seq % 9), '"sse4_2"]}}}}'),
        NULL, NULL, 0
        FROM seq_1_to_{{n}}""",
    "instance_info_caches": f"""INSERT INTO instance_info_caches (created_at, instance_uuid,
        network_info, deleted)
        SELECT '2024-01-01' + INTERVAL seq MINUTE, {uuid('seq')},
        CONCAT('[{{"id": "', {uuid('seq', 'port')}, '", "address": "fa:16:3e:',
               LPAD(HEX(seq % 256), 2, '0'), ':00:01", "network": {{"id": "', {uuid('seq % 30', 'net')},
               '", "bridge": "br-int", "label": "private", "subnets": [{{"cidr": "10.0.0.0/24", ',
               '"dns": [], "gateway": {{"address": "10.0.0.1", "type": "gateway", "version": 4}}, ',
               '"ips": [{{"address": "10.0.', seq % 250, '.', seq % 200, '", "type": "fixed", ',
               '"version": 4, "floating_ips": []}}], "routes": [], "version": 4}}], ',
               '"meta": {{"injected": false, "tenant_id": "', MD5(CONCAT('p', seq % 120)),
               '", "mtu": 1450}}}}, "type": "ovs", "devname": "tap', LEFT(MD5(seq), 11),
               '", "ovs_interfaceid": "', {uuid('seq', 'port')}, '", "active": true}}]'), 0
        FROM seq_1_to_{{n}}""",
    "block_device_mapping": f"""INSERT INTO block_device_mapping (created_at, device_name,
        delete_on_termination, snapshot_id, volume_id, volume_size, no_device, connection_info,
        instance_uuid, source_type, destination_type, boot_index, image_id, uuid, attachment_id, deleted)
        SELECT '2024-01-01' + INTERVAL seq MINUTE, CONCAT('/dev/vd', CHAR(97 + seq % 3)), seq % 2,
        NULL, IF(seq % 3 = 0, NULL, {uuid('seq', 'vol')}), IF(seq % 3 = 0, NULL, 10 + seq % 90), NULL,
        IF(seq % 3 = 0, NULL, CONCAT('{{"driver_volume_type": "iscsi", "data": {{"target_iqn": ',
               '"iqn.2010-10.org.openstack:volume-', {uuid('seq', 'vol')}, '", "target_portal": ',
               '"192.168.0.10:3260", "target_lun": ', seq % 8, ', "auth_method": "CHAP", ',
               '"auth_username": "', LEFT(MD5(seq), 20), '", "auth_password": "***", ',
               '"encrypted": false, "qos_specs": null, "access_mode": "rw"}}, ',
               '"serial": "', {uuid('seq', 'vol')}, '"}}')),
        {uuid('(seq + 2) DIV 3')}, IF(seq % 3 = 0, 'image', 'volume'), IF(seq % 3 = 0, 'local', 'volume'),
        IF(seq % 3 = 1, 0, NULL), IF(seq % 3 = 0, {uuid('seq % 40', 'img')}, NULL), {uuid('seq', 'bdm')},
        IF(seq % 3 = 0, NULL, {uuid('seq', 'att')}), 0
        FROM seq_1_to_{{n}}""",
    "instance_actions": f"""INSERT INTO instance_actions (created_at, action, instance_uuid,
        request_id, user_id, project_id, start_time, finish_time, message, deleted)
        SELECT '2024-01-01' + INTERVAL seq SECOND, ELT(1 + seq % 5, 'create', 'stop', 'start', 'reboot',
        'attach_volume'), {uuid('(seq + 2) DIV 3')}, CONCAT('req-', {uuid('seq', 'req')}),
        MD5(CONCAT('u', seq % 500)), MD5(CONCAT('p', seq % 120)), '2024-01-01' + INTERVAL seq SECOND,
        '2024-01-01' + INTERVAL seq + 3 SECOND, NULL, 0
        FROM seq_1_to_{{n}}""",
    "instance_actions_events": """INSERT INTO instance_actions_events (created_at, event, action_id,
        start_time, finish_time, result, traceback, host, details, deleted)
        SELECT '2024-01-01' + INTERVAL seq SECOND, ELT(1 + seq % 4, 'compute__do_build_and_run_instance',
        'compute_stop_instance', 'compute_reboot_instance', 'compute_attach_volume'),
        1 + (seq - 1) DIV 2, '2024-01-01' + INTERVAL seq SECOND, '2024-01-01' + INTERVAL seq + 2 SECOND,
        IF(seq % 50 = 0, 'Error', 'Success'),
        IF(seq % 50 = 0, CONCAT('Traceback (most recent call last):\\n  File "/usr/lib/python3/',
           'dist-packages/',
           'nova/compute/manager.py", line ', seq % 9000, ', in _build\\n    raise exception.',
           'RescheduledException(instance_uuid=instance.uuid, reason=''No valid host; "retry"'')\\n'),
           NULL),
        CONCAT('compute-', seq % 64), NULL, 0
        FROM seq_1_to_{n}""",
    "instance_faults": f"""INSERT INTO instance_faults (created_at, instance_uuid, code, message,
        details, host, deleted)
        SELECT '2024-01-01' + INTERVAL seq HOUR, {uuid('seq * 5')}, 500, 'NoValidHost',
        CONCAT('Traceback (most recent call last):\\n', REPEAT('  File "/x.py", line 1, in f\\n', 20),
               'nova.exception.NoValidHost: No valid host was found. ''quoted''; \\\\backslash'),
        CONCAT('compute-', seq % 64), 0
        FROM seq_1_to_{{n}}""",
}


def rows_for(size_mb: float) -> dict[str, int]:
    return {table: max(1, int(rows * size_mb / 100)) for table, rows in ROWS_PER_100MB.items()}


def create(conn: Any, database: str, size_mb: float) -> dict[str, int]:
    """(Re)create `database` filled for a dump of about `size_mb` MB; return row counts."""
    rows = rows_for(size_mb)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb3")
        cur.execute(f"USE `{database}`")
        for statement in DDL:
            cur.execute(statement)
        cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        for table, sql in _FILL.items():
            cur.execute(sql.replace("seq_1_to_{n}", f"seq_1_to_{rows[table]}"))
    return rows
