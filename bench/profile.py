"""Where a process's time goes under load: py-spy samples, summarised by function and by package.

Used with BENCH_PROFILE=1: the gateway and the posts API are sampled while wrk
runs GET /posts?limit=10. Only the thread holding the GIL is sampled: that is
where the process spends CPU on Python (the event loop, uvloop and httptools
included), so the shares are of its busy time, not of wall time.
"""

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SAMPLES_PER_SECOND = 100
# `function (package/module.py)`, as py-spy writes a frame with --nolineno.
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")
# Inclusive time is shown for these packages' functions only: the frames of the
# server and of asyncio are on every stack and say nothing.
OWN_PACKAGES = ("gateway", "auth", "posts", "votes", "tally_shared")


def py_spy() -> str | None:
    """py-spy from the virtualenv of this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_recording(pid: int, seconds: float, output: Path) -> subprocess.Popen:
    executable = py_spy()
    if executable is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return subprocess.Popen(
        [
            executable,
            "record",
            f"--pid={pid}",
            f"--duration={max(1, round(seconds))}",
            f"--rate={SAMPLES_PER_SECOND}",
            "--format=raw",
            "--nolineno",
            "--gil",
            "--nonblocking",
            f"--output={output}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _package(file: str) -> str:
    parts = file.split("/")
    if parts[0] in ("<frozen", "") or len(parts) == 1:
        return "python stdlib" if file.endswith(".py") or file.startswith("<") else file
    return parts[0]


@dataclass(frozen=True)
class Profile:
    samples: int
    # Samples whose innermost frame is this function ("self" time).
    by_function: Counter
    # Samples whose innermost frame is in this package.
    by_package: Counter
    # Samples with this function of ours anywhere on the stack (inclusive time).
    inclusive: Counter

    @classmethod
    def read(cls, raw: Path) -> "Profile":
        by_function: Counter = Counter()
        by_package: Counter = Counter()
        inclusive: Counter = Counter()
        samples = 0
        for line in raw.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = stack.split(";")
            samples += count
            innermost = frames[-1]
            match = _FRAME.match(innermost)
            by_function[innermost] += count
            by_package[_package(match["file"]) if match else innermost] += count
            for frame in set(frames):
                match = _FRAME.match(frame)
                if match and _package(match["file"]) in OWN_PACKAGES:
                    inclusive[frame] += count
        return cls(samples, by_function, by_package, inclusive)

    def report(self, title: str, top: int = 12) -> str:
        if not self.samples:
            return f"{title}: no samples"
        lines = [f"{title}: {self.samples} samples holding the GIL"]
        lines.append("  self time by package:")
        for package, count in self.by_package.most_common(top):
            lines.append(f"    {count / self.samples:6.1%}  {package}")
        lines.append("  self time by function:")
        for frame, count in self.by_function.most_common(top):
            lines.append(f"    {count / self.samples:6.1%}  {frame}")
        lines.append("  inclusive time of our own functions (with everything they call):")
        for frame, count in self.inclusive.most_common(top):
            lines.append(f"    {count / self.samples:6.1%}  {frame}")
        return "\n".join(lines)
