"""The close codes the device endpoint sends are one enum, documented where the contract is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actors.protocol import CloseCode

REPO = Path(__file__).resolve().parents[1]
#: The contract of record, kept beside the repository's clones (../shared, or ../../shared
#: for a clone under wt/), if present.
API_MD = next(
    (p / "shared" / "API.md" for p in REPO.parents if (p / "shared" / "API.md").is_file()),
    REPO / "API.md",
)
#: RFC 6455's endings that are not an error a player must act on.
_ORDINARY = {CloseCode.NORMAL, CloseCode.GOING_AWAY}


def documented_codes() -> dict[int, str]:
    text = (REPO / "docs" / "devices.md").read_text(encoding="utf-8")
    table = text.split("| close code | why |", 1)[1].split("\n\n", 1)[0]
    return {int(code): why for code, why in re.findall(r"^\| (\d{4}) \| (.+) \|$", table, re.M)}


def test_the_close_code_table_lists_every_code_the_endpoint_sends() -> None:
    documented = documented_codes()
    assert set(documented) <= set(CloseCode), "documented codes the server never sends"
    assert set(CloseCode) - _ORDINARY <= set(documented), "codes missing from docs/devices.md"


def test_the_api_contract_names_only_codes_of_the_enum() -> None:
    if not API_MD.is_file():
        pytest.skip(f"{API_MD} is not in this checkout")
    named = {int(c) for c in re.findall(r"close (?:code )?(\d{4})", API_MD.read_text("utf-8"))}
    assert named, "API.md names no close code: the pattern no longer matches it"
    assert named <= set(CloseCode)
