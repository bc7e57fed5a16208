"""The chaos soak: mixed load from both SDKs while servers and workers are killed, then
a checker that accounts for every workflow, side effect, signal, update and event."""
