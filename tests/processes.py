"""Which processes a launcher left behind: by parentage, by session (the launcher gives
each child its own), and by port. Linux /proc only, as the machines that run the suite."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def _stat(pid_dir: Path) -> list[str]:
    # Fields after the command name (which may hold spaces and parentheses).
    return pid_dir.joinpath("stat").read_text().rsplit(")", 1)[1].split()


def children_of(pid: int) -> set[int]:
    """Every live descendant of pid."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(proc.name)] = int(_stat(proc)[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        return _stat(Path(f"/proc/{pid}"))[0] != "Z"
    except OSError:
        return False


def sessions_of(pids: set[int]) -> set[int]:
    found = set()
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            found.add(os.getsid(pid))
    return found


def in_sessions(sessions: set[int]) -> set[int]:
    """Every live process in these sessions, including ones forked after we looked (beat, a pool child)."""
    members = set()
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat(proc)
            if fields[0] != "Z" and int(fields[4]) in sessions:
                members.add(int(proc.name))
    return members


def kill_sessions(sessions: set[int]) -> None:
    """Clean-up after a failed test: SIGKILL whatever is left in these sessions."""
    for pid in in_sessions(sessions):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
