"""Child processes that die with their parent, and a small supervisor for ``manage.py run_app``."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for Popen: on Linux the kernel sends SIGTERM to the child when its parent dies.

    It also puts the child in its own process group, so a terminal's Ctrl+C reaches only the
    supervisor, which then stops the children in order (and says so).
    """
    os.setpgrp()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised process: a name for messages and its Popen handle."""

    name: str
    process: subprocess.Popen


@dataclass
class Supervisor:
    """Starts children, notices when one dies, and stops all of them (newest first) on the way out."""

    say: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, command: list[str], *, env: dict[str, str], cwd: Path) -> Child:
        """Start ``command`` as a child that dies with this process."""
        process = subprocess.Popen(command, env=env, cwd=cwd, preexec_fn=die_with_parent)  # noqa: PLW1509
        child = Child(name=name, process=process)
        self.children.append(child)
        return child

    def adopt(self, name: str, process: subprocess.Popen) -> Child:
        """Supervise a process started elsewhere (e.g. the embedded Redis)."""
        child = Child(name=name, process=process)
        self.children.append(child)
        return child

    def dead(self) -> Child | None:
        """The first child that has exited, if any."""
        return next((child for child in self.children if child.process.poll() is not None), None)

    def stop_all(self, *, timeout: float = 10.0) -> None:
        """Stop every child, newest first (see :meth:`stop`)."""
        for child in reversed(self.children):
            self.stop(child, timeout=timeout)
        self.children.clear()

    def stop(self, child: Child, *, timeout: float) -> None:
        """SIGTERM; after ``timeout / 2`` a second SIGTERM (RQ's cold shutdown: it stops its running job);
        after ``timeout`` SIGKILL for the child and whatever it started (an RQ work-horse lives in its own
        session, so a process-group kill would miss it)."""
        process = child.process
        if process.poll() is not None:
            return
        self.say(f"stopping {child.name} (pid {process.pid})")
        process.terminate()
        if _exited(process, timeout / 2):
            return
        self.say(f"{child.name} is still busy; asking it again to stop now")
        process.terminate()
        if _exited(process, timeout / 2):
            return
        self.say(f"{child.name} did not stop within {timeout:.0f}s; killing it")
        family = descendants(process.pid)
        process.kill()
        process.wait()
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _exited(process: subprocess.Popen, timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def descendants(pid: int) -> list[int]:
    """The pids of ``pid``'s children, grandchildren, ... (Linux ``/proc``; empty elsewhere)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        children = [int(child) for child in path.read_text().split()]
    except OSError:
        return []
    return [grand for child in children for grand in (child, *descendants(child))]


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
