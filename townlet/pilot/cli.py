"""``townlet run --policy``, ``townlet eval`` and ``townlet promote``: learned policies in
the town, the evaluation suite and the promotion gate from the command line.

Heavy imports (torch, the kernels) happen only when a command runs.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

import click

from townlet.config.options import config_option
from townlet.sim.cli import run_options, run_town

__all__ = ["eval_command", "promote_command", "run_command"]

EXIT_REFUSED = 1
"""A promotion transition was refused (not ready, nothing to roll back, ...)."""


def _config(config_path: str | None):
    from townlet.config import ConfigError, default_config, load_config

    try:
        return load_config(config_path) if config_path else default_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load(path: str, cfg: Any = None):
    """The checkpoint at ``path`` as a LoadedPolicy; exit 2 with the reason if unusable
    (with ``cfg``: also when the town's observation layout differs)."""
    from townlet.pilot.checkpoints import load
    from townlet.pilot.policy import LayoutMismatch, check_layout
    from townlet.rl.layout import build_layout

    try:
        policy = load(path)
        if cfg is not None:
            check_layout(policy, build_layout(cfg, policy.variant), "this town")
    except (OSError, ValueError) as exc:
        kind = "layout mismatch" if isinstance(exc, LayoutMismatch) else "unusable checkpoint"
        _fail(f"cannot drive the town with {path!r} ({kind}): {exc}")
    return policy


def _release(cfg: Any):
    """The verified release policy, or None while the scripted policy is the release."""
    from townlet.pilot.checkpoints import load
    from townlet.pilot.serve import verified
    from townlet.promotion.manager import Promotion, PromotionError
    from townlet.promotion.state import StateError

    try:
        slot = Promotion(cfg.pilot.promotion).status().release
        return None if slot is None else verified(slot, load)
    except (PromotionError, StateError) as exc:
        _fail(f"cannot use the release policy: {exc}")
    return None


def _prepare(spec: str):
    def prepare(cfg):
        from townlet.pilot.checkpoints import load
        from townlet.pilot.serve import serve

        policy = _release(cfg) if spec == "release" else _load(spec, cfg)
        if policy is None:
            _fail("no learned policy has been promoted yet: `--policy release` needs one "
                  "(see `townlet promote status`)")

        def attach(sim) -> list[str]:
            serve(sim, policy, load)
            a = cfg.pilot.anneal
            ramp = ", ".join(f"{p.ratio:g}@{p.tick}" for p in a.schedule)
            return [(f"policy: {policy.name} {policy.policy_hash[:12]} ({policy.variant}); "
                     f"anneal by {a.unit}: {ramp}")]
        return attach
    return prepare


@click.command()
@run_options
@click.option("--policy", metavar="CKPT|release",
              help="Drive the agents with this checkpoint (or the promoted release), "
                   "annealed from scripted control by pilot.anneal.")
def run_command(policy: str | None, **options: Any) -> None:
    """Run a town with its console and publisher: progress while it runs, a summary
    at the end. Ctrl-C stops after the current tick, prints the summary and exits 130;
    SIGTERM does the same and exits 0 (a requested stop)."""
    run_town(options, None if policy is None else _prepare(policy))


_SHORT = {"survival": "surv", "punctuality": "punct", "relationships": "ties"}
"""Column headings that keep the table within 80 columns."""


def _table(report) -> None:
    from rich.console import Console
    from rich.table import Table

    from townlet.pilot.evaluate import METRICS

    console = Console()
    console.print(f"suite {report.suite} v{report.suite_version}, tolerance "
                  f"{report.tolerance:.0%}; regressions in red")
    for sc in report.scenarios:
        table = Table(title=f"{sc.scenario.name} ({sc.scenario.agents} agents, "
                            f"{sc.scenario.ticks} ticks)")
        table.add_column("policy", no_wrap=True)
        for col in (*METRICS, "deaths", "clean"):
            table.add_column(_SHORT.get(col, col), justify="right", no_wrap=True)
        runs = [r for r in (sc.candidate, sc.release, sc.scripted) if r is not None]
        for run in runs:
            cells = [f"[red]{run.metrics[m]:.2f}[/red]"
                     if run.policy == "candidate" and m in sc.regressions
                     else f"{run.metrics[m]:.2f}" for m in METRICS]
            table.add_row(run.policy, *cells, str(run.deaths), str(run.clean_windows))
        console.print(table)
        for run in runs:
            if run.alerts:
                console.print(f"  {run.policy} alerts: {', '.join(run.alerts)}")
    verdict = "READY" if report.ready else "NOT READY: " + "; ".join(report.reasons)
    console.print(f"candidate {report.candidate.name} {report.candidate.policy_hash[:12]} vs "
                  f"{report.release.name if report.release else 'scripted release'}: {verdict}")


@click.command()
@click.argument("checkpoint")
@click.option("--suite", "suite_name", default="default", show_default=True,
              help="Evaluation suite (townlet.pilot.suite.SUITES).")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--submit", is_flag=True,
              help="Record the candidate as the shadow policy with this verdict.")
def eval_command(checkpoint: str, suite_name: str, config_path: str | None, as_json: bool,
                 submit: bool) -> None:
    """Evaluate CHECKPOINT on a scenario suite against the release and the scripted
    baseline: survival, needs, wages, punctuality, relationships and return per scenario,
    stability alerts, and whether it may be promoted."""
    import msgspec

    from townlet.pilot.evaluate import evaluate
    from townlet.pilot.serve import slot_of
    from townlet.pilot.suite import SUITES
    from townlet.promotion.manager import Promotion

    if suite_name not in SUITES:
        raise click.BadParameter(f"unknown suite {suite_name!r}; known: "
                                 f"{', '.join(SUITES)}", param_hint="--suite")
    cfg = _config(config_path)
    candidate = _load(checkpoint)
    report = evaluate(cfg, SUITES[suite_name], candidate, _release(cfg))
    if submit:
        Promotion(cfg.pilot.promotion).submit(slot_of(candidate), report.verdict,
                                              report.verdict.clean_windows,
                                              f"cli:{getpass.getuser()}")
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(report)))
    else:
        _table(report)
        if submit:
            state = "ready" if report.ready else "monitoring"
            click.echo(f"submitted as the shadow candidate ({state})")


@click.group()
def promote_command() -> None:
    """The promotion gate: release and shadow policies, promotion and rollback."""


def _act(config_path: str | None, action: str, **kwargs: Any) -> None:
    import msgspec

    from townlet.pilot.checkpoints import load
    from townlet.pilot.serve import verified
    from townlet.promotion.manager import Promotion, PromotionError
    from townlet.promotion.state import StateError

    def check(slot) -> None:  # offline: the new release must load and match its hash
        if slot is not None:
            verified(slot, load)

    cfg = _config(config_path)
    promo = Promotion(cfg.pilot.promotion, serve=check)
    actor = f"cli:{getpass.getuser()}"
    try:
        state = (promo.status() if action == "status" else
                 promo.promote(actor, **kwargs) if action == "promote" else
                 promo.rollback(actor, **kwargs))
    except PromotionError as exc:
        _fail(f"{exc.code}: {exc}", EXIT_REFUSED)
    except StateError as exc:
        _fail(str(exc))
    click.echo(json.dumps(msgspec.to_builtins(state)))


@promote_command.command("status")
@config_option
def status_command(config_path: str | None) -> None:
    """Print the promotion state (JSON): release, shadow, readiness, history."""
    _act(config_path, "status")


@promote_command.command("promote")
@config_option
@click.option("--reason", default="", help="Why (kept in the history).")
@click.option("--policy-hash", default=None, help="Refuse unless the shadow has this hash.")
def promote_cmd(config_path: str | None, reason: str, policy_hash: str | None) -> None:
    """Promote the ready shadow candidate to release (its checkpoint is verified first)."""
    _act(config_path, "promote", reason=reason, policy_hash=policy_hash)


@promote_command.command("rollback")
@config_option
@click.option("--reason", default="", help="Why (kept in the history).")
def rollback_cmd(config_path: str | None, reason: str) -> None:
    """Restore the release before the last promotion."""
    _act(config_path, "rollback", reason=reason)
