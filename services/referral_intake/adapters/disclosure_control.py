"""Secondary suppression for the published edition, by G-Confid (Statistics Canada's
disclosure-avoidance software; its Python front end on PyPI), then audited.

Why G-Confid: of the libraries on PyPI, it is the one that does secondary suppression as
national statistical offices do (an LP model of the table's linear constraints that finds a
cheap set of complementary cells giving every sensitive cell its protection). ACRO (PyPI
``acro``) applies primary suppression to tables it builds from microdata and recomputes
margins instead of choosing complementary cells, which would make the report's linked
tables disagree with one another; Tau-Argus' Python front end (``piargus``) drives the
Tau-Argus program, which does not run here. The threshold rule itself
(``domain/disclosure.py``) gives G-Confid its sensitive cells.

G-Confid protects against the report's sums. A reader also knows that counts are never
negative and that some counts are within others (the completed are among those whose case
ended); the audit below works out, by linear programming over everything published, how
high each suppressed small count could be. Where a reader could rule out the threshold,
the cells sharing a sum or bound with it are suppressed too, and G-Confid runs again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from services.referral_intake.domain.disclosure import Path, Table, weight

log = logging.getLogger(__name__)

ROUNDS = 20
"""Repair rounds before the last resort (suppress every cell linked to the weak ones)."""
TOLERANCE = 1e-6


_SILENT = logging.getLogger(f"{__name__}.gconfid")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False
_SILENT.setLevel(logging.CRITICAL)
"""G-Confid's own log (plain text, per LP solved): silenced; a block with no pattern is
logged here instead."""


def _quiet_gconfid() -> Any:
    """Import G-Confid on first use (it is large) with its own logging kept out of ours."""
    import gconfid

    for name in ("gconfid", "pandera"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return gconfid


def _gconfid_pattern(
    table: Table,
    protection: Mapping[Path, int],
    forced: set[Path],
    blocks: Mapping[Path, int],
    threshold: int,
) -> set[Path]:
    """The cells G-Confid suppresses (sensitive ones included) in each block that holds a
    sensitive or ``forced`` cell; ``forced`` are suppressed whatever it decides. A block
    G-Confid finds no pattern for is suppressed whole."""
    errors = _quiet_gconfid().exceptions
    wanted = {blocks[p] for p in protection} | {blocks[p] for p in forced}
    members: dict[int, list[Path]] = defaultdict(list)
    for path in table.cells:
        if blocks[path] in wanted:
            members[blocks[path]].append(path)
    chosen: set[Path] = set()
    for block, cells in members.items():
        for room in (1, threshold):
            try:
                chosen |= _gconfid_block(table, set(cells), protection, forced, room)
                break
            except (
                errors.GConfidInfeasibleProblemError,
                errors.GConfidSuppressSolverNonOptimalError,
            ):
                continue  # no pattern with this much room
        else:
            log.warning(
                "no suppression pattern found; the whole table is suppressed",
                extra={"block": block, "cells": len(cells)},
            )
            chosen |= set(cells)
    return chosen | set(protection) | forced


def _gconfid_block(
    table: Table,
    cells: set[Path],
    protection: Mapping[Path, int],
    forced: set[Path],
    room: int,
) -> set[Path]:
    """One connected block through G-Confid. ``room``: how far any cell may move in
    G-Confid's model at least, up and down alike (a reader can raise a suppressed count
    without limit but lower it only to zero: 1 keeps G-Confid's model to what is possible,
    a larger room finds patterns where that is too tight, and the audit then checks it)."""
    import pandas as pd
    import pulp

    ids, rows = _gconfid_cells(table, cells, protection, forced, room)
    constraints = _gconfid_constraints(table, ids, rows)
    if not constraints:
        return {p for p in cells if p in protection or p in forced}
    incell = pd.DataFrame(rows)
    incell["CellId"] = incell["CellId"].astype(float)  # G-Confid's types (its checks coerce)
    inconstraint = pd.DataFrame(constraints).astype({"CellId": float, "ConstraintId": float})
    run = _quiet_gconfid().Suppression(
        incell=incell,
        inconstraint=inconstraint,
        cost_var1="Cost",
        skip_validation=True,  # made here, to G-Confid's schema; its checks cost a third
        custom_solver=pulp.HiGHS(msg=False),
        trace=False,
        logger=_SILENT,
    )
    out = run.outsuppress
    if out is None:  # nothing left to decide: every cell is sensitive, forced or published
        return {p for p in cells if p in protection or p in forced}
    frame = out.to_pandas() if hasattr(out, "to_pandas") else out
    by_id = {cell_id: path for path, cell_id in ids.items()}
    return {
        by_id[int(r.CellId)]
        for r in frame.itertuples()
        if r.OutStatus in ("S", "X") and int(r.CellId) in by_id
    }


def _gconfid_cells(
    table: Table,
    cells: set[Path],
    protection: Mapping[Path, int],
    forced: set[Path],
    room: int,
) -> tuple[dict[Path, int], list[dict[str, Any]]]:
    """G-Confid's cell rows for the block, and each cell's id: sensitive (``S``, with the
    protection it needs), forced out (``X``) or free to publish (``V``), costed by value."""
    ids: dict[Path, int] = {}
    rows = []
    for path in sorted(cells):
        value = table.cells[path]
        ids[path] = len(ids) + 1
        sensitivity = float(protection.get(path, 0))
        status = "S" if sensitivity > 0 else "X" if path in forced else "V"
        rows.append(
            {
                "CellId": ids[path],
                "TotalNoise": float(max(value, sensitivity, room)),
                "Sensitivity": sensitivity,
                "Status": status,
                "Type": "C",
                "Cost": float(max(value, 1) * weight(path)),
            }
        )
    return ids, rows


def _gconfid_constraints(
    table: Table, ids: dict[Path, int], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """G-Confid's constraint rows: each sum of the table within the block, and each bound
    (adding to ``rows`` the unpublished cell a bound needs)."""
    constraints: list[dict[str, Any]] = []
    number = 0
    for total, parts in table.equations:
        if total not in ids:
            continue
        number += 1
        constraints.append({"ConstraintId": number, "CellId": ids[total], "Coefficient": -1})
        constraints.extend(
            {"ConstraintId": number, "CellId": ids[p], "Coefficient": 1} for p in parts
        )
    # A bound (part <= whole) is a sum with a cell nobody publishes: whole = part + rest,
    # where the rest can fall no further than its value. G-Confid then knows what a reader
    # knows: that the part cannot rise above the whole.
    for part, whole in table.bounds:
        if whole not in ids or part not in ids:
            continue
        number += 1
        rest = len(rows) + 1
        value = table.cells[whole] - table.cells[part]
        rows.append(
            {
                "CellId": rest,
                "TotalNoise": float(max(value, 0.01)),
                "Sensitivity": 0.0,
                "Status": "X",
                "Type": "C",
                "Cost": 0.0,
            }
        )
        constraints.append({"ConstraintId": number, "CellId": ids[whole], "Coefficient": -1})
        constraints.append({"ConstraintId": number, "CellId": ids[part], "Coefficient": 1})
        constraints.append({"ConstraintId": number, "CellId": rest, "Coefficient": 1})
    return constraints


def highest(
    table: Table, hidden: set[Path], cells: set[Path], scope: set[Path] | None = None
) -> dict[Path, float]:
    """For each of ``cells`` (all in ``hidden``), the highest value a reader of every other
    figure could not rule out: a linear programme over the sums, the bounds and
    non-negativity, with every published cell fixed at its value. ``inf``: no limit.
    ``scope``: the blocks to look at (whole blocks; default everything)."""
    import highspy

    index = {p: n for n, p in enumerate(sorted(hidden if scope is None else hidden & scope))}
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    inf = h.getInfinity()
    for _ in index:
        h.addVar(0.0, inf)

    def row(lhs: list[tuple[Path, float]], low: float, high: float) -> None:
        constant = 0.0
        coefficients: dict[int, float] = defaultdict(float)
        for path, factor in lhs:
            if path in index:
                coefficients[index[path]] += factor
            else:
                constant += factor * table.cells[path]
        columns = [c for c, w in coefficients.items() if w != 0]
        if columns:
            h.addRow(
                low - constant,
                high - constant,
                len(columns),
                columns,
                [coefficients[c] for c in columns],
            )

    for total, parts in table.equations:
        if scope is None or total in scope:
            row([(total, -1.0), *((p, 1.0) for p in parts)], 0.0, 0.0)
    for part, whole in table.bounds:
        if scope is None or part in scope:
            row([(part, 1.0), (whole, -1.0)], -inf, 0.0)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    found: dict[Path, float] = {}
    for path in cells:
        costs = [0.0] * len(index)
        costs[index[path]] = 1.0
        h.changeColsCost(len(index), list(range(len(index))), costs)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            found[path] = float(h.getInfo().objective_function_value)
        elif status in (
            highspy.HighsModelStatus.kUnbounded,
            highspy.HighsModelStatus.kUnboundedOrInfeasible,
        ):
            found[path] = float("inf")
        else:
            raise RuntimeError(f"audit of {'.'.join(path)}: {h.modelStatusToString(status)}")
    return found


def _neighbours(table: Table, cells: set[Path]) -> set[Path]:
    """Every cell sharing a sum or a bound with one of ``cells``."""
    found: set[Path] = set()
    for total, parts in table.equations:
        members = {total, *parts}
        if members & cells:
            found |= members
    for part, whole in table.bounds:
        if {part, whole} & cells:
            found |= {part, whole}
    return found


def suppression_pattern(table: Table, protection: Mapping[Path, int], threshold: int) -> set[Path]:
    """The cells to suppress so that no cell in ``protection`` can be shown, from what is
    published, to be below its value plus its protection."""
    if not protection:
        return set()
    blocks = table.blocks()
    pending = {blocks[p] for p in protection}
    chosen: dict[int, set[Path]] = {}
    forced: set[Path] = set()
    for _ in range(ROUNDS):
        fresh = _gconfid_pattern(
            table,
            {p: v for p, v in protection.items() if blocks[p] in pending},
            {p for p in forced if blocks[p] in pending},
            blocks,
            threshold,
        )
        for block in pending:
            chosen[block] = {p for p in fresh if blocks[p] == block}
        hidden = set().union(*chosen.values())
        scope = {p for p in table.cells if blocks[p] in pending}
        reach = highest(table, hidden, {p for p in protection if blocks[p] in pending}, scope)
        weak = {p for p, top in reach.items() if top + TOLERANCE < table.cells[p] + protection[p]}
        if not weak:
            return hidden
        log.info("secondary suppression strengthened", extra={"cells": len(weak)})
        pending = {blocks[p] for p in weak}
        for cell in weak:
            # The cheapest published cell linked to it: sharing a sum or a bound with it, or
            # else with the cells that do, and so on outwards (a weak cell whose neighbours
            # are all suppressed is held down by a published cell further out).
            ring, seen = {cell}, {cell}
            while ring:
                linked = _neighbours(table, ring) - seen
                candidates = [p for p in linked if table.cells[p] > 0 and p not in hidden]
                if candidates:
                    forced.add(min(candidates, key=lambda p: (table.cells[p] * weight(p), p)))
                    break
                seen |= linked
                ring = linked
        forced |= {p for p in hidden if blocks[p] in pending} - set(protection)
    # Last resort: hide every cell of the blocks that still hold a weak cell.
    return hidden | {p for p, b in blocks.items() if b in pending}
