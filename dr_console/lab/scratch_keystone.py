"""A scratch Keystone for drills: it serves a restored keystone schema (the
drill's scratch schema, never the live one) on a free loopback port, is
asked for a token with the lab's admin credentials, and is stopped by its
PID. Exit 0 only if that Keystone issued a token: the restored data makes
a working identity service, not just tables with the right row counts.

The lab's site file names it as the keystone drill's smoke command:

    python -m dr_console.lab.scratch_keystone --lab-dir LAB --schema {schema} \\
        --defaults-file {defaults_file}

It uses the lab's Keystone packages and fernet keys (a real site keeps
those in its /etc archive); nothing of it outlives the command."""

from __future__ import annotations

import argparse
import configparser
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import yaml

from dr_console.lab import procs
from dr_console.lab.openstack import uwsgi_argv
from dr_console.lab.openstack._config import ADMIN_CLOUD, Layout

WSGI = "/usr/bin/keystone-wsgi-public"


def _account(defaults_file: Path) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read(defaults_file)
    client = parser["client"]
    return client.get("user", "root"), client.get("password", "").strip('"')


def _conf(layout: Layout, url: str) -> str:
    state = layout.root
    return "\n".join([
        "[DEFAULT]", "use_stderr = true", "",
        "[database]", f"connection = {url}", "",
        "[token]", "provider = fernet", "",
        "[fernet_tokens]", f"key_repository = {state}/keystone/fernet-keys", "",
        "[fernet_receipts]", f"key_repository = {state}/keystone/fernet-keys", "",
        "[credential]", f"key_repository = {state}/keystone/credential-keys", "",
        "[oslo_messaging_notifications]", "driver = noop", "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab-dir", type=Path, required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--defaults-file", type=Path, required=True,
                        help="a client option file with the account that reads the schema")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)

    lab = args.lab_dir.resolve()
    layout = Layout(lab)
    if not args.schema.startswith("keystone__drill_"):
        print(f"refusing to serve {args.schema}: only a drill's scratch schema", file=sys.stderr)
        return 2
    mariadb_port = int(json.loads((lab / "state.json").read_text())["ports"]["mariadb"])
    user, password = _account(args.defaults_file)
    url = (f"mysql+pymysql://{quote(user)}:{quote(password)}@127.0.0.1:{mariadb_port}/"
           f"{args.schema}?charset=utf8mb4")
    admin = yaml.safe_load((lab / "clouds.yaml").read_text())["clouds"][ADMIN_CLOUD]["auth"]
    port = procs.free_port()
    with tempfile.TemporaryDirectory(prefix="scratch-keystone-") as tmp:
        conf_dir = Path(tmp) / "keystone"
        conf_dir.mkdir()
        conf = conf_dir / "keystone.conf"
        conf.touch(mode=0o600)
        conf.write_text(_conf(layout, url))
        log = Path(tmp) / "uwsgi.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(uwsgi_argv("scratch-keystone", WSGI, port),
                                    env={**os.environ, "OS_KEYSTONE_CONFIG_DIR": str(conf_dir)},
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        try:
            return _issue_token(port, admin, args.schema, args.timeout, proc, log)
        finally:
            # Stopped by its PID (its own process group: uwsgi's workers too).
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _issue_token(port: int, admin: dict[str, str], schema: str, timeout: float,
                 proc: subprocess.Popen[bytes], log: Path) -> int:
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    deadline = time.monotonic() + timeout
    while not procs.port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"the scratch Keystone did not start: {log.read_text()[-800:]}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    auth = v3.Password(auth_url=f"http://127.0.0.1:{port}/v3", username=admin["username"],
                       password=admin["password"], project_name=admin["project_name"],
                       user_domain_name=admin.get("user_domain_name", "Default"),
                       project_domain_name=admin.get("project_domain_name", "Default"))
    last = ""
    while time.monotonic() < deadline:
        try:
            token = session.Session(auth=auth).get_token()
        except Exception as exc:  # not ready yet, or a real refusal: retried until the deadline
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
            continue
        if token:
            print(f"a scratch Keystone on 127.0.0.1:{port} serving {schema} issued a token "
                  f"for {admin['username']} in project {admin['project_name']}")
            return 0
    print(f"the scratch Keystone issued no token: {last[:300]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
