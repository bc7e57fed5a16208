"""The `perdure` command."""

from __future__ import annotations

import argparse
import sys

from perdure import __version__
from perdure.cli import server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="perdure", description="Perdure durable execution")
    parser.add_argument("--version", action="version", version=f"perdure {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    server.add_commands(commands)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
