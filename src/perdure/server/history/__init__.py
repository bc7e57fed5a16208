"""The history service: the I/O shell around the engine (load, transition, commit, notify).

service.py holds runs (cache, locks, conditional commits); api/ has one module per
operation that clients' requests become (start, signal, update, reset, ...); outbox.py
carries work between runs; history_pages.py reads history in pages.
"""
