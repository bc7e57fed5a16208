"""Matching: task queues, long-polling pollers, sync match, the stored backlog."""
