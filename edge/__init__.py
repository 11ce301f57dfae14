"""The HTTP/WebSocket edge: Quart app factory, routes, auth, problem+json, CLI.

Routes parse, authenticate, call one use case and encode; they hold no rules and no SQL.
"""
