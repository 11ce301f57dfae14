"""Pagination fixtures: the content team (one user per role) and the admin-API helpers."""

from __future__ import annotations

from tests.auth.conftest import (  # noqa: F401 - fixtures re-exported for pagination tests
    admin,
    new_tenant,
    new_user,
    tenant,
)
from tests.content.conftest import (  # noqa: F401 - fixtures re-exported for pagination tests
    media_root,
    settings,
    team,
)
