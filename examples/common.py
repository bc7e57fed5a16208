"""What every example's command shares: the ``--target`` option and a client for it."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from perdure.client import Client

EMBEDDED = "embedded://:memory:"
"""The default target: Perdure's engine inside the example's own process, in memory."""


def argument_parser(description: str) -> argparse.ArgumentParser:
    """A parser with ``--target``; examples add their own options to it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--target",
        default=EMBEDDED,
        help=f"host:port of a Perdure or Temporal server (default: {EMBEDDED}, no server)",
    )
    return parser


@asynccontextmanager
async def connected(target: str) -> AsyncIterator[Client]:
    """A client of ``target``, closed (its embedded engine stopped) on leaving."""
    client = await Client.connect(target)
    try:
        yield client
    finally:
        await client.service_client.close()
