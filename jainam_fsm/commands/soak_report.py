"""The report of ``jainam-fsm soak``: one record per fault, the JSON document, the table."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jainam_fsm.commands.soak_checks import Audit

if TYPE_CHECKING:
    from jainam_fsm.commands.soak import Options

__all__ = ["Record", "build_report", "render"]


@dataclass
class Record:
    """One fault (or the start) and what its checks found."""

    n: int
    kind: str
    at: float
    params: dict[str, Any]
    recovery_s: float | None = None
    logins: int = 0
    fds: int = 0
    threads: int = 0
    violations: list[str] = field(default_factory=list)


def build_report(
    opts: Options,
    records: Sequence[Record],
    audit: Audit,
    *,
    adapters: int,
    duration: float,
    telemetry: Mapping[str, int],
    threads: tuple[int, int],
    fds: tuple[int, int],
) -> dict[str, Any]:
    """The JSON-ready report of a run."""
    by_kind: dict[str, dict[str, Any]] = {}
    for rec in records:
        row = by_kind.setdefault(rec.kind, {"count": 0, "failed": 0, "recovery_s": [], "logins": 0})
        row["count"] += 1
        row["failed"] += bool(rec.violations)
        row["logins"] += rec.logins
        if rec.recovery_s is not None:
            row["recovery_s"].append(rec.recovery_s)
    for row in by_kind.values():
        times = row.pop("recovery_s")
        row["recovery_median_s"] = round(statistics.median(times), 3) if times else None
        row["recovery_max_s"] = max(times) if times else None
    return {
        "seed": opts.seed,
        "minutes": opts.minutes,
        "api": opts.api,
        "eio": opts.eio,
        "consumers": opts.consumers,
        "threads": opts.threads,
        "reproduce": opts.command(),
        "duration_s": round(duration, 1),
        "faults": len(records) - 1,
        "adapters": adapters,
        "ticks": audit.ticks,
        "ghost_ticks": audit.ghosts,
        "reorders": audit.reorders,
        "logins": sum(r.logins for r in records),
        "threads_before": threads[0],
        "threads_after": threads[1],
        "fds_before": fds[0],
        "fds_after": fds[1],
        "fds_max": max((r.fds for r in records), default=0),
        "edges": {f"{s} --{t}--> {d}": n for (t, s, d), n in sorted(audit.edges.items())},
        "telemetry": dict(sorted(telemetry.items())),
        "by_kind": by_kind,
        "records": [
            {
                "n": r.n,
                "kind": r.kind,
                "at": r.at,
                "params": r.params,
                "recovery_s": r.recovery_s,
                "logins": r.logins,
                "fds": r.fds,
                "violations": r.violations,
            }
            for r in records
        ],
        "violations": [
            {"check": v.check, "detail": v.detail, "at": v.at} for v in audit.violations
        ],
    }


def render(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [
        f"soak seed {report['seed']}, {report['duration_s']} s, api {report['api']}, "
        f"eio {report['eio']}: {report['faults']} faults, {report['adapters']} adapters",
        f"{'fault':<20}{'count':>6}{'failed':>8}{'logins':>8}{'recovery median':>17}{'max':>8}",
    ]
    for kind, row in sorted(report["by_kind"].items()):
        med = row["recovery_median_s"]
        mx = row["recovery_max_s"]
        lines.append(
            f"{kind:<20}{row['count']:>6}{row['failed']:>8}{row['logins']:>8}"
            f"{'-' if med is None else f'{med:.2f} s':>17}{'-' if mx is None else f'{mx:.2f} s':>8}"
        )
    lines.append(
        f"ticks {report['ticks']}, ghost ticks {report['ghost_ticks']}, reorders "
        f"{report['reorders']}, logins {report['logins']}, threads "
        f"{report['threads_before']}->{report['threads_after']}, fds "
        f"{report['fds_before']}->{report['fds_after']} (max {report['fds_max']})"
    )
    lines.append(f"edges used: {len(report['edges'])}; violations: {len(report['violations'])}")
    for v in report["violations"][:20]:
        lines.append(f"  at {v['at']:.1f} s: {v['check']}: {v['detail']}")
    return "\n".join(lines)
