"""The promotion gate: a candidate with alerts is never promoted, promotion and rollback
move the release through one persisted, private, bounded state file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

pytest.importorskip("gymnasium", reason="needs the rl extra")
pytest.importorskip("torch", reason="needs the rl extra")

from _pilot import config, eating_policy

from townlet.pilot.evaluate import evaluate
from townlet.pilot.serve import slot_of
from townlet.pilot.suite import SUITES
from townlet.promotion.manager import Promotion, PromotionError
from townlet.promotion.state import PolicySlot, StateError, SuiteVerdict


def _slot(name: str) -> PolicySlot:
    return PolicySlot(name=name, policy_hash=name[0] * 64, checkpoint=f"/ckpt/{name}.pt",
                      variant="compact", layout_hash="f" * 64)


CLEAN = SuiteVerdict(suite="smoke", suite_version=1, evaluated_at="2026-01-01T00:00:00+00:00",
                     clean_windows=4, alerts=[], regressions=[], against=None)


def test_a_candidate_with_alerts_is_never_promoted(tmp_path):
    # tolerance 1.0: no metric can regress, so the alert alone must stop it
    cfg = config(tmp_path / "promo", promotion={"tolerance": 1.0})
    candidate = eating_policy(cfg)
    report = evaluate(cfg, SUITES["smoke"], candidate, None)
    assert report.verdict.alerts == ["affordance_failures_exceeded"]
    assert report.scenarios[0].scripted.alerts == [], "the alert is the candidate's doing"
    assert report.verdict.regressions == [] and report.verdict.clean_windows >= 2
    assert not report.ready and report.reasons == ["alert affordance_failures_exceeded"]

    promo = Promotion(cfg.pilot.promotion)
    state = promo.submit(slot_of(candidate), report.verdict, report.verdict.clean_windows,
                         "test")
    assert state.state == "monitoring" and not state.candidate_ready
    with pytest.raises(PromotionError, match="alert affordance_failures_exceeded") as err:
        promo.promote("test")
    assert err.value.code == "not_ready"
    after = promo.status()
    assert after.release is None and after.shadow == slot_of(candidate)
    assert [e.kind for e in after.history] == ["candidate"]

    yaml = tmp_path / "cfg.yaml"
    yaml.write_text(f"pilot:\n  promotion:\n    state_dir: {tmp_path / 'promo'}\n")
    proc = subprocess.run([sys.executable, "-m", "townlet", "promote", "promote", "--config",
                           str(yaml)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1 and "not_ready" in proc.stderr, proc.stderr
    assert Promotion(cfg.pilot.promotion).status().release is None


def test_promote_rollback_and_a_bounded_private_history(tmp_path):
    cfg = config(tmp_path / "promo", promotion={"history_limit": 3})
    served: list[PolicySlot | None] = []
    promo = Promotion(cfg.pilot.promotion, serve=served.append)
    a, b = _slot("alpha"), _slot("beta")
    assert promo.submit(a, CLEAN, 2, "t").state == "ready"
    with pytest.raises(PromotionError) as err:
        promo.promote("t", policy_hash="b" * 64)
    assert err.value.code == "mismatch"
    assert promo.promote("t", "first").release == a
    promo.submit(b, CLEAN, 2, "t")
    state = promo.promote("t", "second")
    assert state.state == "promoted" and state.release == b and state.previous == [None, a]
    state = promo.rollback("t", "bad")
    assert state.release == a and state.state == "monitoring" and served == [a, b, a]
    assert promo.rollback("t").release is None, "back to the scripted policy"
    with pytest.raises(PromotionError) as err:
        promo.rollback("t")
    assert err.value.code == "nothing_to_roll_back"
    hist = promo.status().history
    assert len(hist) == 3 and [e.kind for e in hist] == ["promoted", "rollback", "rollback"]
    assert hist[-1].previous_release == a and hist[-1].release is None

    def refuse(slot):
        raise PromotionError("unusable", "checkpoint gone")

    vetoed = Promotion(cfg.pilot.promotion, serve=refuse)
    vetoed.submit(b, CLEAN, 2, "t")
    with pytest.raises(PromotionError, match="checkpoint gone"):
        vetoed.promote("t")
    assert vetoed.status().release is None, "a veto leaves the state as it was"

    d, f = tmp_path / "promo", tmp_path / "promo" / "state.json"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700 and stat.S_IMODE(f.stat().st_mode) == 0o600
    os.chmod(f, 0o666)
    with pytest.raises(StateError, match="writable by group or others"):
        promo.status()
