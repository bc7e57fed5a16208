"""Perdure: durable execution in Python, compatible with Temporal's API.

The SDK modules mirror `temporalio`'s (`perdure.workflow`, `perdure.activity`,
`perdure.client`, `perdure.worker`, `perdure.testing`); the server lives in
`perdure.server`. Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
