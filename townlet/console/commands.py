"""THE command table: every console command, the role it needs and how it runs, defined once.

Roles: ``viewer`` reads, ``operator`` intervenes in the world and the run,
``admin`` may do everything (key management, saving, loading, verifying and
migrating snapshots; every command that writes files is admin-only). docs/console.md is generated from this table
(``python -m townlet.console.docs``) and a test checks it is current.
"""

from __future__ import annotations

from townlet.console import (
    cmd_agents,
    cmd_control,
    cmd_files,
    cmd_info,
    cmd_interventions,
    cmd_keys,
    cmd_levers,
    cmd_promotion,
    cmd_snapshots,
    cmd_town,
)
from townlet.console.table import LOCAL, MUTATES, WRITES_FILES, Command, build_table

__all__ = ["COMMANDS"]

COMMANDS: dict[str, Command] = build_table([
    # name              role        handler                           flags
    ("help",            "viewer",   cmd_info.help_,                   LOCAL),
    ("health",          "viewer",   cmd_info.health,                  LOCAL),
    ("whoami",          "viewer",   cmd_info.whoami,                  LOCAL),
    ("status",          "viewer",   cmd_info.status),
    ("policy_info",     "viewer",   cmd_info.policy_info),
    ("agent",           "viewer",   cmd_agents.agent),
    ("agents",          "viewer",   cmd_agents.agents),
    ("relationships",   "viewer",   cmd_agents.relationships),
    ("related",         "viewer",   cmd_agents.related),
    ("queues",          "viewer",   cmd_town.queues),
    ("economy",         "viewer",   cmd_town.economy),
    ("events",          "viewer",   cmd_town.events),
    ("perturbations",   "viewer",   cmd_town.perturbations),
    ("files",           "viewer",   cmd_files.files,                  LOCAL),
    ("spawn",           "operator", cmd_interventions.spawn,          MUTATES),
    ("kill",            "operator", cmd_interventions.kill,           MUTATES),
    ("teleport",        "operator", cmd_interventions.teleport,       MUTATES),
    ("set_need",        "operator", cmd_interventions.set_need,       MUTATES),
    ("possess",         "operator", cmd_interventions.possess,        MUTATES),
    ("release",         "operator", cmd_interventions.release,        MUTATES),
    ("act",             "operator", cmd_interventions.act,            MUTATES),
    ("set_object",      "operator", cmd_interventions.set_object,     MUTATES),
    ("perturb",         "operator", cmd_interventions.perturb,        MUTATES),
    ("cancel_perturbation", "operator", cmd_interventions.cancel_perturbation, MUTATES),
    ("set_price",       "admin",    cmd_levers.set_price,             MUTATES),
    ("force_chat",      "admin",    cmd_levers.force_chat,            MUTATES),
    ("set_relationship", "admin",   cmd_levers.set_relationship,      MUTATES),
    ("employment_exit", "admin",    cmd_levers.employment_exit,       MUTATES),
    ("toggle_mortality", "admin",   cmd_levers.toggle_mortality,      MUTATES),
    ("set_exit_cap",    "admin",    cmd_levers.set_exit_cap,          MUTATES),
    ("set_spawn_delay", "admin",    cmd_levers.set_spawn_delay,       MUTATES),
    ("pause",           "operator", cmd_control.pause,                MUTATES),
    ("resume",          "operator", cmd_control.resume,               MUTATES),
    ("step",            "operator", cmd_control.step,                 MUTATES),
    ("speed",           "operator", cmd_control.speed,                MUTATES),
    ("keys",            "admin",    cmd_keys.keys,                    LOCAL),
    ("revoke",          "admin",    cmd_keys.revoke,                  LOCAL, MUTATES),
    # snapshot_list reads headers only (viewer); verify reads whole files (admin), see
    # townlet.console.cmd_snapshots for why
    ("snapshot_list",   "viewer",   cmd_snapshots.snapshot_list,      LOCAL),
    ("snapshot_verify", "admin",    cmd_snapshots.snapshot_verify,    LOCAL),
    ("snapshot_save",   "admin",    cmd_snapshots.snapshot_save,      MUTATES, WRITES_FILES),
    ("snapshot_load",   "admin",    cmd_snapshots.snapshot_load,      MUTATES),
    ("snapshot_migrate", "admin",   cmd_snapshots.snapshot_migrate,   LOCAL, MUTATES,
     WRITES_FILES),
    ("promotion_status", "viewer",  cmd_promotion.promotion_status),
    ("promote_policy",  "admin",    cmd_promotion.promote_policy,     MUTATES),
    ("rollback_policy", "admin",    cmd_promotion.rollback_policy,    MUTATES),
])
