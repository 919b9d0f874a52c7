"""The ``keys:`` section: the one key directory every service and `townlet keys` use."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from townlet.config.paths import KEYS_DIR

__all__ = ["KeysConfig"]


class KeysConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where the server keypair, the key registry and issued credentials live."""

    dir: Annotated[str, Meta(min_length=1, max_length=4096)] = KEYS_DIR
    """Key directory (`townlet keys init`): server.key_secret and registry.json, read by the
    console, the publisher and `townlet keys --config`; created on a first `townlet run`."""
