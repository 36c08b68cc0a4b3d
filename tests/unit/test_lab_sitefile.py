"""The lab's generated site file, without starting anything: it loads with
the real loader, and every object key the lab writes maps to its asset
through the file's own copy patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr_console.config import load_site
from dr_console.lab import bootnet, sitefile
from dr_console.lab.seed_db import RESTORER, reader_password_file, restorer_password_file
from dr_console.lab.sshd import client_key, known_hosts

PORTS = {"mariadb": 3307, "moto-aws": 5000, "moto-offsite": 5001, "ssh-boot1": 2201,
         "ssh-db1": 2202, "ssh-app1": 2203, "ssh-probe1": 2204, "ssh-bare": 2205,
         "ssh-drill1": 2206}
TS = "20250102T030405Z"


def _touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")


@pytest.mark.parametrize("openstack", [True, False])
def test_generated_site_file_loads(tmp_path: Path, openstack: bool) -> None:
    clouds_yaml = tmp_path / "clouds.yaml" if openstack else None
    _touch(reader_password_file(tmp_path), restorer_password_file(tmp_path),
           sitefile.admin_password_file(tmp_path), bootnet.vars_file(tmp_path),
           client_key(tmp_path), known_hosts(tmp_path),
           *([clouds_yaml] if clouds_yaml else []))
    path = sitefile.write(tmp_path, sitefile.build(tmp_path, PORTS, clouds_yaml=clouds_yaml))
    text = path.read_text()
    assert text.startswith("# Site file of the dr-console lab.")
    assert str(tmp_path) not in text  # relative paths: the lab dir can move
    site = load_site(path)
    assert site.site == "drlab"
    assert {c.name for c in site.clouds} == ({"lab-openstack", "lab-aws"} if openstack
                                              else {"lab-aws"})
    assert site.mysql[0].password_file == reader_password_file(tmp_path)
    # Restores use their own least-privilege account, never the lab's admin.
    assert site.mysql[0].restore_user == sitefile.RESTORE_USER == RESTORER
    assert site.mysql[0].restore_password_file == restorer_password_file(tmp_path)
    assert (site.mysql[0].snapshot_volume is not None) is openstack
    assert [r.name for r in site.rules][3:] == [
        "openstack-service-dbs", "application-dbs", "volumes", "db-instances",
        "customer-buckets", "ci-built-servers", "stock-images"]
    assert all(rule.line > 0 for rule in site.rules)
    # boot1 is rebuilt on the bare host: its values and its pin are the boot network's.
    [boot] = site.boot
    assert (boot.host, boot.playbooks, boot.probe) == ("boot1", sitefile.PLAYBOOKS_REPO, bootnet.PROBE)
    assert boot.vars_file == bootnet.vars_file(tmp_path)
    assert boot.known_hosts == bootnet.known_hosts(tmp_path)


@pytest.mark.parametrize(("key", "asset", "kind"), [
    (sitefile.DUMP_KEY.format(db="nova_api", ts=TS), "nova_api", "sql-dump"),
    (sitefile.PLAIN_DUMP_KEY.format(db="shop", ts=TS), "shop", "sql-dump"),
    (sitefile.ETC_KEY.format(host="boot1", ts=TS), "boot1", "etc-archive"),
    (sitefile.PACKAGES_KEY.format(host="db1", ts=TS), "db1", "package-list"),
    (sitefile.BUNDLE_KEY.format(repo="boot-infra-playbooks", ts=TS), "boot-infra-playbooks",
     "git-bundle"),
    (sitefile.BUCKET_KEY.format(bucket="customer-uploads", ts=TS), "customer-uploads",
     "bucket-archive"),
    (sitefile.IMAGE_KEY.format(image="appliance-golden", ts=TS), "appliance-golden",
     "image-export"),
])
def test_every_key_layout_maps_to_one_asset(tmp_path: Path, key: str, asset: str,
                                            kind: str) -> None:
    site_data = sitefile.build(tmp_path, PORTS, clouds_yaml=None)
    site = sitefile.model(site_data)
    hits = [(p, m) for p in site.copies if (m := p.regex().match(key))]
    assert len(hits) == 1, key
    pattern, match = hits[0]
    assert match.group("asset") == asset and match.group("timestamp") == TS
    assert pattern.kind == kind
    assert not any(p.regex().match(key + ".manifest.json") for p in site.copies)
