"""The site's playbooks, as a runbook runs them: through ansible-runner in
the background (`run_async`, quiet, an event handler), per-task results
handed to the runbook as they come, cancellable, pinned host keys only.

Also what the runbook reads from a clone of the playbooks without running
them: the variables the roles will use (for the probes' expectations) and
the /etc files the roles write (the ones restored from the /etc archive)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dr_console.errors import DrConsoleError

# Task actions that only pull in other tasks: not a task result of their own.
_INCLUDES = frozenset({"include_role", "import_role", "include_tasks", "import_tasks",
                       "ansible.builtin.include_role", "ansible.builtin.import_role",
                       "ansible.builtin.include_tasks", "ansible.builtin.import_tasks"})
_RESULTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
            "runner_on_skipped": "skipped"}
_WRITERS = frozenset({"template", "copy", "ansible.builtin.template", "ansible.builtin.copy",
                      "ansible.legacy.template", "ansible.legacy.copy"})
ARTIFACTS_KEPT = 2


class PlaybookError(DrConsoleError):
    exit_code = 1


@dataclass(frozen=True)
class TaskResult:
    host: str
    task: str
    status: str  # ok | changed | failed | unreachable | skipped
    message: str = ""

    def line(self, check: bool) -> tuple[str, str]:
        """(level, text) for the runbook's log, in ansible's own words."""
        if self.status == "changed":
            return "info", f"{'would change' if check else 'changed'}: [{self.host}] {self.task}"
        if self.status in ("failed", "unreachable"):
            return "warning", f"{self.status.upper()}: [{self.host}] {self.task}: {self.message}"
        return "info", f"{self.status}: [{self.host}] {self.task}"


@dataclass
class PlaybookRun:
    status: str  # successful | failed | timeout | canceled
    rc: int | None
    results: list[TaskResult] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def having(self, *statuses: str) -> list[TaskResult]:
        return [r for r in self.results if r.status in statuses]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts


def failure_message(res: dict[str, Any], limit: int = 600) -> str:
    """What a failed task said: its msg, then stderr (or stdout), one line."""
    parts = []
    for key in ("msg", "stderr", "module_stderr"):
        value = res.get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    if len(parts) < 2 and isinstance(res.get("stdout"), str) and res["stdout"].strip():
        parts.append(res["stdout"].strip())
    if not parts and isinstance(res.get("results"), list):  # a loop: the failed items' messages
        parts = [failure_message(item, limit) for item in res["results"]
                 if isinstance(item, dict) and item.get("failed")]
    if "rc" in res and res.get("rc") not in (0, None):
        parts.append(f"(rc {res['rc']})")
    text = " ".join(" ".join(parts).split()) or "no message"
    return text if len(text) <= limit else text[:limit] + "…"


def task_result(event: dict[str, Any]) -> TaskResult | None:
    """A task's outcome on one host from a runner event; None for others."""
    status = _RESULTS.get(str(event.get("event")))
    data = event.get("event_data") or {}
    if status is None or data.get("task_action") in _INCLUDES:
        return None
    res = data.get("res") or {}
    if status == "failed" and data.get("ignore_errors"):
        status = "ok"
    elif status == "ok" and res.get("changed"):
        status = "changed"
    message = failure_message(res) if status in ("failed", "unreachable") else ""
    return TaskResult(str(data.get("host") or "?"), str(data.get("task") or "?"), status, message)


# ---------------------------------------------------------------------------
# Running


def ansible_playbook() -> str:
    """ansible-core's ansible-playbook: beside this interpreter first."""
    here = Path(sys.executable).parent / "ansible-playbook"
    found = str(here) if here.exists() else shutil.which("ansible-playbook")
    if not found:
        raise PlaybookError("ansible-playbook not found: install ansible-core beside dr-console "
                            "(pip install ansible-core)")
    return found


def environment(project: Path, home: Path, known_hosts: Path) -> dict[str, str]:
    """ansible's settings for a rebuild: host keys checked against the one
    pinned file only, no ControlMaster process left behind, state in `home`."""
    (home / "tmp").mkdir(parents=True, exist_ok=True, mode=0o700)
    path = f"{Path(ansible_playbook()).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {"PATH": path, "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
           "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
           "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    if (project / "ansible.cfg").is_file():
        env["ANSIBLE_CONFIG"] = str(project / "ansible.cfg")
    return env


def ssh_common_args(known_hosts: Path) -> str:
    return (f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))} -o GlobalKnownHostsFile=/dev/null "
            "-o StrictHostKeyChecking=yes -o ControlMaster=no")


def run(*, private_dir: Path, project: Path, playbook: str, inventory: Path,
        extravars: dict[str, Any], envvars: dict[str, str], check: bool,
        on_result: Callable[[TaskResult], None], cancel: threading.Event,
        timeout: float = 3600.0) -> PlaybookRun:
    """One ansible-playbook run; `on_result` is called for every task
    result, on this thread, as they come."""
    import queue

    import ansible_runner

    private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    results: queue.Queue[TaskResult] = queue.Queue()

    def handler(event: dict[str, Any]) -> bool:
        result = task_result(event)
        if result is not None:
            results.put(result)
        return True  # keep the event: runner's stats are built from them

    ident = f"{'check' if check else 'apply'}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    started = time.monotonic()
    thread, runner = ansible_runner.run_async(
        private_data_dir=str(private_dir), project_dir=str(project), playbook=playbook,
        inventory=str(inventory), extravars=extravars, envvars=envvars,
        cmdline="--check" if check else None, ident=ident, quiet=True, event_handler=handler,
        cancel_callback=cancel.is_set, rotate_artifacts=ARTIFACTS_KEPT,
        # Nothing in env/: those files would outlive the run, and a later
        # run would read a --check left there.
        suppress_env_files=True, timeout=int(timeout))
    done: list[TaskResult] = []
    while True:
        alive = thread.is_alive()
        for result in _drain(results):
            done.append(result)
            on_result(result)
        if not alive:
            break
        thread.join(0.2)
    _scrub_artifacts(private_dir / "artifacts" / ident)
    stats = runner.stats or {}
    return PlaybookRun(str(runner.status), runner.rc, done, dict(stats), time.monotonic() - started)


def _drain(results: Any) -> Iterator[TaskResult]:
    import queue

    while True:
        try:
            yield results.get_nowait()
        except queue.Empty:
            return


def _scrub_artifacts(artifact_dir: Path) -> None:
    """ansible-runner writes the controller's whole environment into the
    artifacts' `command` file: whatever secret dr-console's environment
    holds must not stay on disk."""
    with contextlib.suppress(OSError):
        (artifact_dir / "command").unlink()


# ---------------------------------------------------------------------------
# Reading a clone


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PlaybookError(f"cannot read {path}: {exc}") from None


def _var_files(folder: Path, name: str) -> list[Path]:
    """group_vars/NAME.yml, .yaml, NAME (a file), or every file in NAME/."""
    found = [folder / f"{name}{ext}" for ext in (".yml", ".yaml", "") if (folder / f"{name}{ext}").is_file()]
    if (folder / name).is_dir():
        found += sorted(p for p in (folder / name).iterdir() if p.suffix in (".yml", ".yaml"))
    return found


def playbook_vars(clone: Path, group: str, host: str, site_vars: dict[str, Any]) -> dict[str, Any]:
    """The variables the roles will see, low to high as ansible ranks them:
    role defaults, the playbooks' group_vars (all, then the group), the
    site's host vars, the playbooks' host_vars. Enough for literal values;
    templated ones are left as written."""
    merged: dict[str, Any] = {}
    for defaults in sorted((clone / "roles").glob("*/defaults/main.y*ml")):
        data = _load_yaml(defaults)
        if isinstance(data, dict):
            merged.update(data)
    for path in [*_var_files(clone / "group_vars", "all"), *_var_files(clone / "group_vars", group)]:
        data = _load_yaml(path)
        if isinstance(data, dict):
            merged.update(data)
    merged.update(site_vars)
    for path in _var_files(clone / "host_vars", host):
        data = _load_yaml(path)
        if isinstance(data, dict):
            merged.update(data)
    return merged


def _tasks(items: Any) -> Iterator[dict[str, Any]]:
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        yield item
        for nested in ("block", "rescue", "always"):
            yield from _tasks(item.get(nested))


def role_files(clone: Path) -> list[str]:
    """The /etc files the roles write with template or copy, where the
    destination is written out (not templated)."""
    found: set[str] = set()
    for path in sorted((clone / "roles").glob("*/tasks/*.y*ml")):
        for task in _tasks(_load_yaml(path)):
            for module in _WRITERS & set(task):
                args = task[module]
                dest = args.get("dest") if isinstance(args, dict) else None
                if isinstance(dest, str) and dest.startswith("/etc/") and "{{" not in dest \
                        and not dest.endswith("/"):
                    found.add(dest)
    return sorted(found)


def site_vars(vars_file: Path | None, inline: dict[str, Any]) -> dict[str, Any]:
    """The site's values for the rebuild: its vars file, then its inline vars."""
    merged: dict[str, Any] = {}
    if vars_file is not None:
        data = _load_yaml(vars_file)
        if data is not None and not isinstance(data, dict):
            raise PlaybookError(f"{vars_file}: expected a mapping of variables")
        merged.update(data or {})
    merged.update(inline)
    return merged


def write_inventory(folder: Path, group: str, host: str, values: dict[str, Any]) -> Path:
    """An inventory of one host in `group`, its host vars the site's values.
    Where to connect is passed as extra vars (they rank above all)."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "host_vars").mkdir(parents=True, mode=0o700)
    (folder / "hosts.yml").write_text("# written by dr-console for one rebuild\n" + yaml.safe_dump(
        {"all": {"children": {group: {"hosts": {host: None}}}}}, sort_keys=False))
    (folder / "host_vars" / f"{host}.yml").write_text(
        "# the site's values (boot[].vars_file and boot[].vars)\n"
        + yaml.safe_dump(json.loads(json.dumps(values, default=str)), sort_keys=False))
    return folder
