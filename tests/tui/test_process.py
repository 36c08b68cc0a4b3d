"""The real `dr-console tui` process under a pty: it draws, quits on `q`,
and exits 0 promptly when the SSH session drops (SIGHUP)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect  # a dev dependency: missing, the test must fail, not skip
import pytest

DR_CONSOLE = str(Path(sys.executable).parent / "dr-console")
SITE_NAME = "hup-test"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[pexpect.spawn]:
    site = tmp_path / "site.yaml"
    site.write_text(f"site: {SITE_NAME}\n")
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(DR_CONSOLE, ["--site", str(site), "tui"], env=env, dimensions=(24, 80),
                          encoding="utf-8", codec_errors="replace", timeout=20)
    try:
        child.expect_exact(SITE_NAME)
        child.expect_exact("READ-ONLY")
        yield child
    finally:
        child.close(force=True)


def test_sighup_exits_zero_promptly(console: pexpect.spawn) -> None:
    start = time.monotonic()
    console.kill(signal.SIGHUP)
    console.expect(pexpect.EOF, timeout=10)
    console.close()
    elapsed = time.monotonic() - start
    assert console.exitstatus == 0, (console.exitstatus, console.signalstatus)
    assert elapsed < 3.0, f"took {elapsed:.1f}s to exit after SIGHUP"


def test_q_quits_with_zero(console: pexpect.spawn) -> None:
    console.send("q")
    console.expect(pexpect.EOF, timeout=10)
    console.close()
    assert console.exitstatus == 0


def test_the_terminal_going_away_exits_zero(console: pexpect.spawn) -> None:
    """What an SSH drop really does: the pty's other end closes; the kernel
    hangs up the terminal (SIGHUP) and every write to it fails."""
    pid = console.pid
    start = time.monotonic()
    console.ptyproc.fileobj.close()
    deadline = start + 5
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "still running 5s after its terminal went away"
        time.sleep(0.05)
    # Reaped and closed here: the fixture must not do either again.
    console.ptyproc.closed = console.closed = True
    console.ptyproc.terminated = console.terminated = True
    assert os.WIFEXITED(status), f"killed by signal {os.WTERMSIG(status)}"
    assert os.WEXITSTATUS(status) == 0
