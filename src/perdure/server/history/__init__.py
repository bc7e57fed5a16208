"""The history service: the I/O shell around the engine (load, transition, commit, notify)."""
