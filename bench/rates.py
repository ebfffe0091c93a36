"""A precision or recall figure as the quality scripts print it: value and its fraction."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    hits: int  # true positives
    total: int  # the denominator: alerts for precision, relevant items for recall

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"{self.value:.3f} ({self.hits}/{self.total})"
