"""``jainam-fsm soak``: a short real run (every check live), the invariants it applies, and
its command line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from jainam_fsm import cli
from jainam_fsm.commands import soak
from jainam_fsm.commands.soak_checks import DECLARED_EDGES, GHOST_GRACE, Audit, order_of
from jainam_fsm.xts.ticks import Tick
from jainam_fsm.xts.timeconv import IST


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tick(iid: int, seq: int | None = None, code: int = 1501, t: int | None = None) -> Tick:
    when = datetime.fromtimestamp(t, IST) if t is not None else None
    return Tick(1, iid, code, sequence_number=seq, last_update_time=when)


@pytest.mark.parametrize(("api", "eio"), [("json", "4"), ("binary", "3")])
def test_a_short_soak_passes_every_check(
    api: str, eio: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "soak.json"
    argv = ["--seed", "11", "--minutes", "0.3", "--api", api, "--eio", eio]
    rc = cli.main(["soak", *argv, "--json", str(out)])
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert rc == 0, text
    assert report["violations"] == [] and "all checks passed" in text
    assert report["faults"] >= 3 and report["ticks"] > 0
    assert report["ghost_ticks"] == 0 and report["reorders"] == 0
    kinds = {r["kind"] for r in report["records"]}
    assert len(kinds - {"start"}) >= 3
    killing = sum(
        1 for r in report["records"] if r["kind"] in {f.name for f in soak.FAULTS if f.kills_token}
    )
    assert report["logins"] <= 1 + killing
    assert report["threads_after"] <= report["threads_before"]
    assert all(r["recovery_s"] is not None for r in report["records"])
    assert "fault" in text and "recovery median" in text
    assert report["reproduce"].startswith(f"jainam-fsm soak --seed 11 --minutes 0.3 --api {api}")


def test_ghost_ticks_are_violations_after_the_grace() -> None:
    clock = ManualClock()
    audit = Audit(clock=clock)
    key = (1, 22, 1501)
    audit.tick(tick(22, 1))
    assert audit.ghosts == 1  # never wanted
    audit.want(key, "c0")
    audit.want(key, "c1")
    audit.tick(tick(22, 2))
    audit.drop(key, "c0")
    audit.tick(tick(22, 3))  # still wanted by c1
    assert audit.ghosts == 1
    audit.drop(key, "c1")
    clock.now += GHOST_GRACE / 2
    audit.tick(tick(22, 4))  # in flight when the last want went away
    assert audit.ghosts == 1
    clock.now += GHOST_GRACE
    audit.tick(tick(22, 5))
    assert audit.ghosts == 2
    assert [v.check for v in audit.violations] == ["no tick for an unwanted instrument"] * 2
    assert not audit.drop(key, "c1") and audit.want(key, "c1") and not audit.want(key, "c1")


def test_order_never_backwards_per_key() -> None:
    audit = Audit(clock=ManualClock())
    for iid in (22, 23):
        audit.want((1, iid, 1501), "c")
    audit.want((1, 22, 1512), "c")
    audit.tick(tick(22, 10))
    audit.tick(tick(22, 10))  # a snapshot equal to the last live tick is fine
    audit.tick(tick(23, 5))  # another instrument has its own order
    audit.tick(tick(22, 11))
    audit.tick(tick(22, None, code=1512, t=1_700_000_000))
    audit.tick(tick(22, None, code=1512, t=1_700_000_000))
    assert audit.reorders == 0
    audit.tick(tick(22, 5, code=1512))  # a sequence number is not compared with a time
    assert audit.reorders == 0
    audit.tick(tick(22, 9))
    audit.tick(tick(22, None, code=1512, t=1_699_999_999))
    audit.tick(tick(22, 4, code=1512))
    assert audit.reorders == 3
    assert order_of(Tick(1, 1, 1505)) is None


def test_only_declared_edges() -> None:
    audit = Audit(clock=ManualClock())
    audit.transition("start", "idle", "authenticating")
    assert not audit.violations
    audit.transition("retry", "connected", "authenticating")
    assert [v.detail for v in audit.violations] == ["connected --retry--> authenticating"]
    assert ("start", "idle", "authenticating") in DECLARED_EDGES
    assert audit.edges[("start", "idle", "authenticating")] == 1


def test_a_violation_exits_1_with_the_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fake_run(self: soak.Soak) -> dict[str, Any]:
        return {
            "seed": self.opts.seed, "minutes": self.opts.minutes, "api": "json", "eio": 4,
            "duration_s": 1.0, "faults": 1, "adapters": 1, "by_kind": {}, "ticks": 1,
            "ghost_ticks": 1, "reorders": 0, "logins": 1, "threads_before": 1,
            "threads_after": 1, "fds_before": 1, "fds_after": 1, "fds_max": 1, "edges": {},
            "reproduce": self.opts.command(),
            "violations": [{"check": "no tick for an unwanted instrument", "detail": "x", "at": 0.5}],
        }  # fmt: skip

    monkeypatch.setattr(soak.Soak, "run", fake_run)
    out = tmp_path / "r.json"
    rc = cli.main(["soak", "--seed", "4242", "--minutes", "2", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 1
    assert "reproduce with: jainam-fsm soak --seed 4242 --minutes 2" in text
    assert json.loads(out.read_text())["violations"]
