"""Who used the CPU during a scenario: each process of the stack, PostgreSQL's backends for
`tally_bench`, wrk, and everything else on the machine (other people's work included).

Read from /proc before and after a scenario; shown as CPU milliseconds per request,
which says where the time goes and how much of the machine the benchmark really had.
"""

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from bench.config import DATABASE

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _process_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process, 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may contain spaces; the fields after it are plain numbers.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def _database_backends() -> list[int]:
    """PostgreSQL backends connected to the benchmark's database (their title names it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {DATABASE} " in title:
            pids.append(int(entry.name))
    return pids


def _machine_busy_seconds() -> float:
    """CPU seconds spent by anything on the machine, summed over every CPU."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS_PER_SECOND


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSnapshot:
    processes: dict[str, float]
    backends: dict[int, float]
    children: float
    machine: float

    @classmethod
    def take(cls, pids: dict[str, int]) -> "CpuSnapshot":
        return cls(
            processes={name: _process_seconds(pid) for name, pid in pids.items()},
            backends={pid: _process_seconds(pid) for pid in _database_backends()},
            children=_children_seconds(),
            machine=_machine_busy_seconds(),
        )


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds used between two snapshots, by whom."""

    by_process: dict[str, float]
    postgres: float
    # Children of the benchmark that ended meanwhile: wrk.
    wrk: float
    # Everything else on the machine, the benchmark's own Python process included.
    others: float

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> "CpuUse":
        by_process = {name: after.processes[name] - before.processes.get(name, 0.0) for name in after.processes}
        # Backends that lived through the scenario (the services' pools keep theirs open).
        postgres = sum(after.backends[pid] - before.backends[pid] for pid in after.backends if pid in before.backends)
        wrk = after.children - before.children
        ours = sum(by_process.values()) + postgres + wrk
        return cls(by_process, postgres, wrk, max(0.0, after.machine - before.machine - ours))

    def per_request(self, requests: int) -> str:
        """E.g. `gateway 2.10, posts 1.52, postgres 0.40, wrk 0.08, others 0.30 ms`; idle processes left out."""
        requests = max(1, requests)
        shares = {name: seconds for name, seconds in self.by_process.items() if seconds > 0.01}
        shares |= {"postgres": self.postgres, "wrk": self.wrk, "others": self.others}
        ordered = sorted(shares.items(), key=lambda item: -item[1])
        return ", ".join(f"{name} {seconds * 1000 / requests:.2f}" for name, seconds in ordered) + " ms"
