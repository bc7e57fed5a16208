"""Infrastructure provisioning: a child workflow per resource, heartbeats, clean cancellation."""
