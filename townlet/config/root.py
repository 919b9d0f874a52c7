"""The root config struct: one field per section."""

from __future__ import annotations

from msgspec import Struct

from townlet.config.console import ConsoleConfig
from townlet.config.kernel import KernelConfig
from townlet.config.keys import KeysConfig
from townlet.config.ops import OpsConfig
from townlet.config.pilot import PilotConfig
from townlet.config.rl import RLConfig
from townlet.config.snapshots import SnapshotsConfig
from townlet.config.telemetry import TelemetryConfig
from townlet.config.world import WorldConfig

__all__ = ["TownletConfig"]


class TownletConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything a run needs; its canonical encoding hashes to ``config_id``."""

    world: WorldConfig = WorldConfig()
    keys: KeysConfig = KeysConfig()
    console: ConsoleConfig = ConsoleConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    snapshots: SnapshotsConfig = SnapshotsConfig()
    rl: RLConfig = RLConfig()
    ops: OpsConfig = OpsConfig()
    kernel: KernelConfig = KernelConfig()
    pilot: PilotConfig = PilotConfig()
