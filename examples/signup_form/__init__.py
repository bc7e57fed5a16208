"""An interactive multi-step form: a workflow per session, driven by updates from a web handler."""
