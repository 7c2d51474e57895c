"""The lab's clock for bench/lab_time.py: cycler channels, cells that occupy them for their test's length, the rules
that decide when the next batch may start, and the cycles.csv a lab would send at a given day.

A cycle (charge + discharge) takes 2 h / C-rate: at 0.1 C, 20 h; a 300-cycle test, 250 days. A cell's test runs
the cycles its simulated cell reports (`CellResult.tested_cycles`: to 300, or until it dies or shorts)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from virtual_lab.cycler import cycle_hours

EPS_DAYS = 1e-9


def days_per_cycle(c_rate: float) -> float:
    return cycle_hours(c_rate) / 24


@dataclass
class Cell:
    """One cell on a channel: its test starts at ``start_day`` and runs ``cycles`` cycles."""
    cell_id: str
    recipe: dict
    start_day: float
    cycles: int
    days_per_cycle: float
    ingested: int = 0                 # cycles the lake has of it
    value: float | None = None        # its measured objective, for the peers (known once it has ended)

    @property
    def end_day(self) -> float:
        return self.start_day + self.cycles * self.days_per_cycle

    def run_by(self, day: float) -> int:
        """Cycles completed by ``day``."""
        done = math.floor((day - self.start_day) / self.days_per_cycle + EPS_DAYS)
        return max(0, min(self.cycles, done))

    def ended(self, day: float) -> bool:
        return day >= self.end_day - EPS_DAYS

    def running(self, day: float) -> bool:
        return self.start_day <= day + EPS_DAYS and not self.ended(day)


class Clock:
    """``channels`` cycler channels and every cell started on them (the seed's cells ended by day 0)."""

    def __init__(self, channels: int):
        self.channels, self.cells = channels, []

    def running(self, day: float) -> list[Cell]:
        return [c for c in self.cells if c.running(day)]

    def finished(self, day: float) -> list[Cell]:
        return [c for c in self.cells if c.ended(day)]

    def free(self, day: float) -> int:
        return self.channels - len(self.running(day))

    def start(self, cells: list[Cell], day: float) -> None:
        if len(cells) > self.free(day):
            raise RuntimeError(f"day {day:.1f}: {len(cells)} cells for {self.free(day)} free channels")
        self.cells += cells

    def next_event(self, day: float, after_cycles: int | None = None) -> float | None:
        """The next day after ``day`` at which a test ends or (rule after:N) a running cell reaches N cycles."""
        times = [c.end_day for c in self.cells]
        if after_cycles:
            times += [c.start_day + after_cycles * c.days_per_cycle for c in self.cells if c.cycles > after_cycles]
        later = [t for t in times if t > day + EPS_DAYS]
        return min(later) if later else None


def next_day(clock: Clock, day: float, after: int | None, every: float) -> float:
    """The next event: a test ends, a running cell reaches N cycles (after:N) or the next record on the grid."""
    grid = (math.floor(day / every + 1e-9) + 1) * every
    nxt = clock.next_event(day, after)
    return grid if nxt is None else min(nxt, grid)


def on_grid(day: float, every: float) -> bool:
    return abs(day / every - round(day / every)) < 1e-9


STOP = "+stop"                        # rule suffix: end the tests `cathode best` says are not worth their channel


def parse_rule(rule: str) -> int | None:
    """`wait` -> None; `after:N` (or `after:N+stop`) -> N."""
    if rule == "wait":
        return None
    name, _, n = rule.removesuffix(STOP).partition(":")
    if name != "after" or not n.isdigit():
        raise ValueError(f"unknown rule {rule!r}: wait, after:N or after:N{STOP}")
    return int(n)


def stop(cells: list[Cell], ids, day: float) -> int:
    """End the tests of the running ``ids`` with the cycle under way at ``day`` (its row then says how the test
    ended); returns how many."""
    ended = 0
    for cell in cells:
        if cell.cell_id in ids and cell.running(day):
            cell.cycles = min(cell.cycles, cell.run_by(day) + 1)
            ended += 1
    return ended


def may_start(rule: str, clock: Clock, day: float, batch: int) -> bool:
    """Whether the next batch may start at ``day``: `wait` when no cell runs; `after:N` when ``batch`` channels are
    free and every running cell has run N cycles; a peer (any other name) when ``batch`` channels are free."""
    running = clock.running(day)
    if rule == "wait":
        return not running
    if rule.startswith("after:"):
        n = parse_rule(rule)
        return clock.free(day) >= batch and all(c.run_by(day) >= n for c in running)
    return clock.free(day) >= batch


def cycles_until(tests: pl.DataFrame, cells: list[Cell], day: float) -> pl.DataFrame:
    """The cycles.csv rows a lab sends at ``day``: of each cell, the cycles run since the last file (``tests``: every
    cell's full test, as `fill_proposals` writes it). `end_of_test` on the test's last row once it has ended: the
    simulator's `short`, else `scheduled` (300 cycles, or the cell died: retention limit). Marks them ingested."""
    parts = []
    for cell in cells:
        upto = cell.run_by(day)
        if upto <= cell.ingested:
            continue
        rows = tests.filter((pl.col("cell_id") == cell.cell_id) & (pl.col("cycle_index") > cell.ingested)
                            & (pl.col("cycle_index") <= upto))
        ended = upto == cell.cycles
        parts.append(rows.with_columns(
            pl.when(pl.lit(ended) & (pl.col("cycle_index") == cell.cycles))
            .then(pl.col("end_of_test").fill_null("scheduled")).otherwise(None).alias("end_of_test")))
        cell.ingested = upto
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts)


def read_tests(cycles_csv) -> pl.DataFrame:
    """A `fill_proposals` cycles.csv (end_of_test read as text even when every row is blank)."""
    return pl.read_csv(cycles_csv, schema_overrides={"end_of_test": pl.String, "cell_id": pl.String})
