"""Optional integrations with third-party libraries (mirrors ``temporalio.contrib``)."""
