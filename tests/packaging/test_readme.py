"""The README's settings and tour match the code: what a new operator types works."""

from __future__ import annotations

import re
from pathlib import Path

from werkzeug.routing import Map

from edge.app import create_app
from simulator.screen import default_url
from tests.conftest import make_settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_documents_the_variables_operators_type() -> None:
    for variable in ("HOST", "PORT", "SIGNAGE_ADMIN_PASSWORD", "SIGNAGE_URL", "JWT_SECRET_FILE"):
        assert f"`{variable}`" in README, variable


def test_simulate_finds_the_node_from_port_or_signage_url() -> None:
    assert default_url({}) == "http://127.0.0.1:8000"
    assert default_url({"PORT": "9001"}) == "http://127.0.0.1:9001"
    assert default_url({"PORT": "9001", "SIGNAGE_URL": "https://proxy:8443/"}) == (
        "https://proxy:8443"
    )


def test_every_call_in_the_tour_is_a_real_route() -> None:
    tour = README[README.index("## A first tour") : README.index("## Documentation")]
    tour = tour.replace("\\\n", " ")  # one line per command
    calls = re.findall(r"curl -s (-X POST )?localhost:8000(/api/v1/[^\s\"']+)([^\n]*)", tour)
    assert len(calls) >= 5
    app = create_app(make_settings("postgresql://unused@127.0.0.1/unused"))
    routes: Map = app.url_map
    bound = routes.bind("localhost")
    uuid = "3f1c2a7e-5b4d-4c3a-9e8f-0a1b2c3d4e5f"
    seen = set()
    for explicit_post, path, rest in calls:
        method = "POST" if explicit_post or " -d " in rest else "GET"
        concrete = re.sub(r"\$[A-Z]+", uuid, path)
        endpoint, _ = bound.match(concrete, method=method)
        seen.add(endpoint)
    assert any(e.endswith("clear_emergency") for e in seen), seen
    assert sum("emergenc" in e for e in seen) >= 3, seen
