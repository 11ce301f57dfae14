"""One module per resource; each exposes ``router`` (an :class:`edge.api.ApiRouter`)."""
