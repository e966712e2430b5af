"""Moving the ``champion`` alias by hand: :func:`promote` a version, or
:func:`rollback` to the one it replaced. Each move is recorded as a decision
run (``cairn.kind = decision``) and as tags on the versions concerned.

Only the registry is touched: no training library is imported, so the
commands answer as fast as the tracking store allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cairn.exceptions import RegistryError
from cairn.spec import ProjectSpec, load_spec
from cairn.tracking import (
    CHAMPION,
    alias_version,
    list_versions,
    record_decision,
    tag_version,
    tracking_uri,
)
from cairn.tracking_store import store_lock

__all__ = ["ChampionMove", "promote", "rollback"]


@dataclass(frozen=True)
class ChampionMove:
    """What :func:`promote` or :func:`rollback` did.

    Attributes:
        action: ``promote`` or ``rollback``.
        decision_run_id: the MLflow run recording the move.
    """

    from_version: str
    to_version: str
    reason: str
    decision_run_id: str
    action: str = "rollback"

    def summary(self) -> str:
        verb = "promoted" if self.action == "promote" else "rolled back"
        return (
            f"champion {verb}: version {self.from_version} to {self.to_version} ({self.reason})"
            if self.from_version
            else f"champion {verb}: version {self.to_version} ({self.reason})"
        )


def _spec(spec_or_path: ProjectSpec | str | Path) -> ProjectSpec:
    return spec_or_path if isinstance(spec_or_path, ProjectSpec) else load_spec(spec_or_path)


def promote(
    spec_or_path: ProjectSpec | str | Path = "cairn.toml",
    version: str | int = "",
    *,
    reason: str = "manual promotion",
) -> ChampionMove:
    """Make ``version`` the champion and record why.

    Raises:
        RegistryError: unknown version, already champion, or the store fails.
    """
    spec = _spec(spec_or_path)
    name = spec.project.name
    uri = tracking_uri(spec.project_dir, spec.tracking.uri)
    target = str(version).strip()
    with store_lock(uri):
        versions = {v.version: v for v in list_versions(name, tracking_uri=uri)}
        if target not in versions:
            raise RegistryError(
                f"model {name!r} has no version {target or '(none given)'}; "
                f"versions: {', '.join(versions)}"
            )
        current = alias_version(name, CHAMPION, tracking_uri=uri)
        if target == current:
            raise RegistryError(f"version {target} is already the champion of {name!r}")
        return _move(spec, current, target, reason, action="promote")


def rollback(
    spec_or_path: ProjectSpec | str | Path = "cairn.toml",
    *,
    to_version: str | int | None = None,
    reason: str = "manual rollback",
) -> ChampionMove:
    """Move the ``champion`` alias back to the version it replaced, or to
    ``to_version``, and record the decision.

    Raises:
        RegistryError: no champion, no earlier version, or an unknown version.
    """
    spec = _spec(spec_or_path)
    name = spec.project.name
    uri = tracking_uri(spec.project_dir, spec.tracking.uri)
    with store_lock(uri):
        current = alias_version(name, CHAMPION, tracking_uri=uri)
        if current is None:
            raise RegistryError(f"model {name!r} has no champion in {uri}; nothing to roll back")
        versions = {v.version: v for v in list_versions(name, tracking_uri=uri)}
        if to_version is not None:
            target = str(to_version)
            if target not in versions:
                raise RegistryError(
                    f"model {name!r} has no version {target}; versions: {', '.join(versions)}"
                )
            if target == current:
                raise RegistryError(f"version {target} is already the champion of {name!r}")
        else:
            previous = versions[current].tags.get("cairn.previous_champion")
            if previous and previous in versions:
                target = previous
            else:
                older = [v for v in versions if int(v) < int(current)]
                if not older:
                    raise RegistryError(
                        f"version {current} is the first version of {name!r}; there is no "
                        "earlier champion to roll back to"
                    )
                target = max(older, key=int)
        return _move(spec, current, target, reason, action="rollback")


def _move(
    spec: ProjectSpec, current: str | None, target: str, reason: str, *, action: str
) -> ChampionMove:
    """Point ``champion`` at ``target``, record the decision run, and tag
    both versions: the new champion with why it is champion, the old one
    with why it no longer is."""
    from cairn.tracking import set_alias

    name = spec.project.name
    uri = tracking_uri(spec.project_dir, spec.tracking.uri)
    set_alias(name, CHAMPION, target, tracking_uri=uri)
    moment = datetime.now(UTC).isoformat(timespec="seconds")
    evidence = {
        "decision": action,
        "version": target,
        "from_version": current,
        "to_version": target,
        "reason": reason,
        "time": moment,
    }
    run_id = record_decision(
        project=name,
        project_dir=spec.project_dir,
        configured_uri=spec.tracking.uri,
        artifacts=spec.tracking.artifacts,
        decision=action,
        evidence=evidence,
    )
    since = f" (was version {current})" if current else ""
    new_tags = {
        "cairn.decision": action,
        "cairn.decision_reason": f"made champion by {action}{since}: {reason}",
        "cairn.decision_run": run_id,
        "cairn.promoted_at": moment,
    }
    if current and action == "promote":
        # Rollback follows this chain back; a rollback itself must not extend it.
        new_tags["cairn.previous_champion"] = current
    tag_version(name, target, new_tags, tracking_uri=uri)
    if current:
        old_tags = {
            "cairn.decision": "replaced",
            "cairn.decision_reason": f"replaced by version {target} ({action}): {reason}",
            "cairn.decision_run": run_id,
        }
        if action == "rollback":
            old_tags.update(
                {
                    "cairn.rolled_back_at": moment,
                    "cairn.rollback_reason": reason,
                    "cairn.rollback_run": run_id,
                }
            )
        tag_version(name, current, old_tags, tracking_uri=uri)
    return ChampionMove(current or "", target, reason, run_id, action)
