"""The README's GRANT statements are the ones the lab makes (lab.seed_db),
and grant patterns escape a database's own wildcards."""

from __future__ import annotations

import re

from labenv import REPO

from dr_console.lab import seed_db


def _readme_sql() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Accounts and least privilege"):]
    return " ".join(section.split())


def test_the_readme_lists_the_lab_grants() -> None:
    readme = _readme_sql()
    expected = [f"GRANT {seed_db.BACKUP_GRANTS} ON `<db>`.* TO <backup>;",
                f"GRANT SELECT ON {seed_db.BACKUP_PROC} TO <backup>;"]
    for suffix, privileges in seed_db.RESTORE_GRANTS:
        pattern = seed_db.schema_pattern("<db>", suffix)
        expected.append(f"GRANT {privileges} ON {pattern}.* TO <restore>;")
    expected.append(f"GRANT {seed_db.OWNER_GRANTS} ON `shop`.* TO {seed_db.OWNER_ROLE};")
    for statement in expected:
        assert statement in readme, statement
    # and no other GRANT to the two accounts than these and the owner role
    listed = re.findall(r"GRANT [^;]*? TO <(?:backup|restore)>;", readme)
    to_accounts = [s for s in expected if s.endswith(("<backup>;", "<restore>;"))]
    assert sorted(listed) == sorted([*to_accounts, f"GRANT {seed_db.OWNER_ROLE} TO <restore>;"])


def test_schema_patterns_escape_the_name_and_keep_one_wildcard() -> None:
    assert seed_db.schema_pattern("keystone") == "`keystone`"
    assert seed_db.schema_pattern("nova_api") == "`nova\\_api`"
    assert seed_db.schema_pattern("nova_api", "__staging_") == "`nova\\_api\\_\\_staging\\_%`"
    assert seed_db.schema_pattern("a%b`c") == "`a\\%b``c`"


def test_the_accounts_hold_nothing_global_and_the_restore_account_edits_no_row() -> None:
    for _suffix, privileges in seed_db.RESTORE_GRANTS:
        granted = {p.strip() for p in privileges.split(",")}
        assert not granted & {"UPDATE", "DELETE", "ALL", "ALL PRIVILEGES", "SUPER", "SET USER"}
    assert {p.strip() for p in seed_db.BACKUP_GRANTS.split(",")} == {
        "SELECT", "SHOW VIEW", "TRIGGER", "EVENT"}
