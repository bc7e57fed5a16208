"""Who may talk to the server and what they may do: TLS (tls.py), authorization
(authorization.py, claims.py, roles.py)."""
