"""Client-side tools that drive a server as screens do (never imported by the server)."""
