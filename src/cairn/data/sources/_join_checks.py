"""Checks on joined sources: cardinality, rows each side lost and columns a
join brought in twice (findings named ``combine_*``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.data.sources._combination import (
    PARTIAL_AGREEMENT,
    JoinRecord,
    entity_key,
    sources_finding,
    toml_key,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cairn.data.findings import Finding


# ---------------------------------------------------------------------------
# Join
# ---------------------------------------------------------------------------


def join_step(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    source: str,
    on: list[str],
    how: str,
) -> JoinRecord:
    """Key multiplicity and unmatched rows of one join, measured before it."""
    import numpy as np

    left_keys = entity_key(left, on)
    right_keys = entity_key(right, on)
    left_many = len(np.unique(left_keys)) < len(left_keys)
    right_many = len(np.unique(right_keys)) < len(right_keys)
    cardinality = {
        (False, False): "1:1",
        (False, True): "1:n",
        (True, False): "n:1",
        (True, True): "n:m",
    }[(left_many, right_many)]
    left_alone = ~np.isin(left_keys, right_keys)
    right_alone = ~np.isin(right_keys, left_keys)

    def examples(frame: pd.DataFrame, alone: np.ndarray) -> list[str]:
        keys = frame.loc[alone, list(on)].head(3)
        return [", ".join(str(value) for value in row) for row in keys.itertuples(index=False)]

    return JoinRecord(
        source=source,
        on=list(on),
        how=how,
        cardinality=cardinality,
        left_rows=len(left),
        right_rows=len(right),
        left_unmatched=int(left_alone.sum()),
        right_unmatched=int(right_alone.sum()),
        rows=0,
        left_examples=examples(left, left_alone),
        right_examples=examples(right, right_alone),
    )


def join_findings(
    frames: list[tuple[str, pd.DataFrame]], joins: list[JoinRecord], rows: int
) -> list[Finding]:
    """Rows each side of every join lost, and joins that repeat rows."""
    from cairn.data.findings import Finding, quoted_examples

    findings = [sources_finding(frames, rows, "joined")]
    for step, join in enumerate(joins):
        left = repr(frames[0][0]) if step == 0 else "the sources joined before it"
        keys = ", ".join(join.on)
        findings.append(
            Finding(
                "combine_join",
                "warning" if join.cardinality in ("1:n", "n:m") else "info",
                None,
                join.rows,
                f"{join.how} join of {left} ({join.left_rows:,} rows) with {join.source!r} "
                f"({join.right_rows:,} rows) on {keys}: {join.cardinality}, {join.rows:,} rows",
                "joined"
                + (
                    f"; the key repeats in {join.source!r}, so rows of {left} are repeated: "
                    f"check that {keys} identifies one row there"
                    if join.cardinality in ("1:n", "n:m")
                    else ""
                ),
                True,
            )
        )
        for side, unmatched, lost, other, shown in (
            (left, join.left_unmatched, join.left_lost, repr(join.source), join.left_examples),
            (repr(join.source), join.right_unmatched, join.right_lost, left, join.right_examples),
        ):
            if not unmatched:
                continue
            total = join.left_rows if side == left else join.right_rows
            if lost:
                action = (
                    f"dropped by the {join.how} join; set join_how = "
                    f'"{"left" if side == left else "outer"}" to keep them'
                )
            else:
                action = f"kept with {other}'s columns missing (imputed)"
            findings.append(
                Finding(
                    "combine_join_rows_lost" if lost else "combine_join_unmatched",
                    "warning" if lost and side == left else "info",
                    None,
                    unmatched,
                    f"{unmatched:,} of {total:,} rows of {side} have no match in {other} "
                    f"on {keys}, e.g. {quoted_examples(shown)}",
                    action,
                    True,
                )
            )
    return findings


def agreement(a: pd.Series, b: pd.Series) -> tuple[int, int]:
    """(rows where both have a value, rows of those where the values are equal)."""
    import numpy as np
    import pandas as pd

    from cairn.data.values import as_strings

    both = (a.notna() & b.notna()).to_numpy()
    n_both = int(both.sum())
    if not n_both:
        return 0, 0
    left, right = a[both], b[both]
    numbers_left = pd.to_numeric(left, errors="coerce")
    numbers_right = pd.to_numeric(right, errors="coerce")
    if numbers_left.notna().all() and numbers_right.notna().all():
        equal = np.isclose(
            numbers_left.to_numpy(dtype=float), numbers_right.to_numpy(dtype=float), rtol=1e-9
        )
    else:
        equal = as_strings(left).to_numpy() == as_strings(right).to_numpy()
    return n_both, int(equal.sum())


def duplicate_column_finding(
    column: str, copy: str, source: str, both: int, equal: int
) -> Finding | None:
    """The note for a column a join brought twice (``copy`` from ``source``)."""
    from cairn.data.findings import Finding

    if not both:
        return None
    share = equal / both
    if equal == both:
        return Finding(
            "combine_join_duplicate_column",
            "info",
            copy,
            both,
            f"column {copy!r} (from {source!r}) repeats {column!r}: equal on all {both:,} rows "
            "where both have a value",
            f"{copy!r} dropped, {column!r} kept (its gaps filled from {copy!r})",
            True,
        )
    if share < PARTIAL_AGREEMENT:
        return None
    return Finding(
        "combine_join_duplicate_column",
        "warning",
        copy,
        both - equal,
        f"column {copy!r} (from {source!r}) and {column!r} agree on {share:.1%} of the "
        f"{both:,} rows where both have a value, and differ on {both - equal:,}",
        f'both kept; if one is stale, drop it with roles = {{ {toml_key(copy)} = "ignore" }} '
        "in [data]",
        False,
    )
