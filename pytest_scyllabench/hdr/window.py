"""The measured window of a step, applied identically to every loader's log."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Log timestamps have millisecond resolution: window bounds are compared with this slack.
SLACK = 0.0005


@dataclass(frozen=True)
class Window:
    """The measured window, epoch seconds, half-open ``[start, end)``.

    An interval belongs to it when its absolute start lies in it, allowing half a
    millisecond (the resolution of log timestamps).
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"empty measured window [{self.start}, {self.end})")

    @property
    def length(self) -> float:
        return self.end - self.start

    def contains(self, timestamp: float) -> bool:
        return self.start - SLACK <= timestamp < self.end - SLACK

    def mask(self, starts: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """:meth:`contains` of each of ``starts``."""
        inside: npt.NDArray[np.bool_] = (starts >= self.start - SLACK) & (
            starts < self.end - SLACK)
        return inside
