"""Typed configuration: msgspec Structs per section, YAML loading with key-path
errors, cross-field invariants and the stable ``config_id``."""

from townlet.config.loader import (
    ConfigError,
    config_id,
    default_config,
    dump_config,
    load_config,
    with_agents,
    with_settings,
)
from townlet.config.root import TownletConfig

__all__ = ["ConfigError", "TownletConfig", "config_id", "default_config", "dump_config",
           "load_config", "with_agents", "with_settings"]
