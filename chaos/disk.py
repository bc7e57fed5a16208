"""A small disk for the `disk-full` scenario: a tmpfs holding the SQLite store, which the
soak fills to the last byte with a ballast file and frees again.

Mounting a tmpfs needs the right to mount (root, CAP_SYS_ADMIN); `unavailable()` says why
not when this machine does not allow it.
"""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

CHUNKS = (1 << 20, 1 << 14, 1 << 10, 64, 1)
"""Ballast writes, largest first: the last bytes of free space go in ever smaller pieces."""


def unavailable(probe: Path) -> str | None:
    """None when a tmpfs can be mounted at a fresh directory under `probe`, else why not."""
    where = probe / "tmpfs-probe"
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        where.rmdir()
        return f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}"
    subprocess.run(["umount", str(where)], check=False)
    where.rmdir()
    return None


class SmallDisk:
    """A tmpfs of `size_mb` at `path`; `fill` leaves no byte free, `free` undoes it."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
            check=True, capture_output=True,
        )  # fmt: skip
        self.ballast = path / "ballast"

    def fill(self) -> int:
        """Write ballast until the disk refuses a single byte more; the bytes written."""
        written = 0
        with self.ballast.open("ab", buffering=0) as f:
            for size in CHUNKS:
                block = b"\0" * size
                while True:
                    try:
                        n = f.write(block)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
                    written += n or 0
                    if not n or n < size:
                        break
        return written

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)

    def unmount(self) -> None:
        self.free()
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
