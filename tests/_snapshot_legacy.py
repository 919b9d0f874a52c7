"""Old snapshot layouts built from current sections, shared by the migration tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["as_schema1"]


def as_schema1(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 1 layout of ``sections``: one score per relationship tie (``rel_value``)
    and no pending-event flag (``evt_stale``, schema 3)."""
    old = {k: v for k, v in sections.items()
           if k not in ("rel_trust", "rel_fam", "rel_riv", "evt_stale")}
    old["rel_value"] = sections["rel_trust"]
    return old
