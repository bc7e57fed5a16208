"""Summarise a py-spy `--format raw` profile (collapsed stacks): the top functions.

    python -m bench.profile bench/results/profile-....txt [--top 20]

Self time says where the CPU is spent; inclusive time says which call paths lead there.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    """`func (path/to/file.py:12)` -> `func (file.py)`; lines are merged per function."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path})"


def load(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """(self samples, inclusive samples, total samples) per function."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        # py-spy puts the thread/process as the first frame; it is no function.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    return own, incl, total


def summary(path: Path, top: int = 15) -> str:
    own, incl, total = load(path)
    if not total:
        return f"{path}: no samples"
    lines = [f"py-spy profile {path.name}: {total} samples", "", "self %  function"]
    lines += [f"{100 * n / total:5.1f}  {f}" for f, n in own.most_common(top)]
    ours = Counter({f: n for f, n in incl.items() if "(perdure/" in f})
    lines += ["", "incl % perdure function (time spent in it and below)"]
    lines += [f"{100 * n / total:5.1f}  {f}" for f, n in ours.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    print(summary(args.path, args.top))


if __name__ == "__main__":
    main()
