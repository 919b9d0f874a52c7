"""Run a sweep's towns as Ray tasks (one CPU each) and journal each as it ends.

A worker process that dies (killed, out of memory, its node lost) makes Ray rerun
its town, up to ``retries`` times; a town that raises is reported as failed and does
not stop the others. Towns already in the journal are not run again, so rerunning
the same command after an interruption finishes only what is missing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from msgspec import Struct

from townlet.scale.cluster import LOCAL, SERIAL, connect
from townlet.scale.results import Journal
from townlet.scale.spec import TownJob
from townlet.scale.town import TownResult, run_town

__all__ = ["SweepOutcome", "run_sweep"]

class SweepOutcome(Struct, frozen=True):
    results: list[TownResult]
    """Every finished town of the spec, including those of earlier runs."""
    ran: list[str]
    """Towns this run finished."""
    skipped: list[str]
    """Towns found in the journal and not rerun."""
    failed: dict[str, str]
    """Towns that raised (key -> error), to be rerun next time."""


def run_sweep(jobs: Sequence[TownJob], journal: Journal, *, address: str = LOCAL,
              workers: int | None = None, retries: int = 3,
              on_done: Callable[[TownJob, TownResult | None], None] | None = None
              ) -> SweepOutcome:
    """Run the towns of ``jobs`` missing from ``journal``; ``on_done`` sees each end."""
    todo = [job for job in jobs if job.key not in journal.done]
    skipped = [job.key for job in jobs if job.key in journal.done]
    failed: dict[str, str] = {}
    ran: list[str] = []

    def finished(job: TownJob, result: TownResult | None, error: str | None) -> None:
        if result is not None:
            journal.add(result)
            ran.append(job.key)
        else:
            failed[job.key] = error or "failed"
        if on_done is not None:
            on_done(job, result)

    if address == SERIAL:
        for job in todo:
            finished(job, run_town(job), None)
    elif todo:
        _run_on_ray(todo, connect(address, workers), retries, finished)
    keys = {job.key for job in jobs}
    return SweepOutcome(results=[r for k, r in journal.done.items() if k in keys],
                        ran=ran, skipped=skipped, failed=failed)


def _run_on_ray(todo: Sequence[TownJob], ray: Any, retries: int,
                finished: Callable[[TownJob, TownResult | None, str | None], None]) -> None:
    task = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(run_town)
    pending = {task.remote(job): job for job in todo}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(ready[0])
        try:
            finished(job, ray.get(ready[0]), None)
        except ray.exceptions.RayError as exc:  # raised in the town, or retries used up
            finished(job, None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
