"""``inspect --plot out.png``: per source, message rate over time and the histogram of intervals.

matplotlib is an optional extra (``pip install 'ataraxis-like[plot]'``); without it the plot
raises PlotUnavailableError, which the command line prints as one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AtaraxisError
from .archive import SourceTimeline

_RATE_BINS = 200
_INTERVAL_BINS = 100


class PlotUnavailableError(AtaraxisError, ImportError):
    """matplotlib is not installed."""


class PlotError(AtaraxisError, ValueError):
    """There is nothing to plot, or the figure could not be written."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        raise PlotUnavailableError(
            "--plot needs matplotlib, which is not installed: pip install 'ataraxis-like[plot]'"
        ) from None
    return pyplot


def rate_over_time(stamps_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (s since the first message) and messages per second in each bin.

    A bin spans at least 20 typical intervals, so a steady rate draws a flat line.
    """
    offsets = stamps_us.astype(np.int64) - int(stamps_us[0])
    span = int(offsets[-1]) if offsets.size else 0
    typical = int(np.median(np.diff(offsets))) if offsets.size > 1 else 0
    width = max(span // _RATE_BINS, 20 * typical, 1000)  # microseconds
    counts = np.bincount(offsets // width)
    centres = (np.arange(counts.size) + 0.5) * width / 1e6
    return centres, counts / (width / 1e6)


def plot_timelines(timelines: Sequence[SourceTimeline], out: Path) -> Path:
    """Write one row per source (rate over time | interval histogram) to ``out``; return it."""
    pyplot = _pyplot()
    shown = [timeline for timeline in timelines if timeline.timestamps.size]
    if not shown:
        raise PlotError(f"nothing to plot for {out}: no source holds a message")
    figure, axes = pyplot.subplots(
        len(shown), 2, figsize=(11, 2.6 * len(shown)), squeeze=False, constrained_layout=True
    )
    for (rate_axis, jitter_axis), timeline in zip(axes, shown, strict=True):
        stamps = timeline.timestamps
        centres, rates = rate_over_time(stamps)
        rate_axis.plot(centres, rates, linewidth=1)
        rate_axis.set_title(f"source {timeline.source_id}: {stamps.size:,} messages")
        rate_axis.set_xlabel("seconds since first message")
        rate_axis.set_ylabel("messages/s")
        if stamps.size < 2:
            jitter_axis.text(0.5, 0.5, "one message: no intervals", ha="center", va="center")
            jitter_axis.set_axis_off()
            continue
        intervals_ms = np.diff(stamps.astype(np.int64)) / 1e3
        median, p99 = np.percentile(intervals_ms, [50, 99])
        jitter_axis.hist(intervals_ms, bins=_INTERVAL_BINS, log=True)
        jitter_axis.set_ylim(bottom=0.5)
        jitter_axis.set_title(f"intervals: median {median:.3f} ms, p99 {p99:.3f} ms")
        jitter_axis.set_xlabel("interval between messages (ms)")
        jitter_axis.set_ylabel("count")
    try:
        figure.savefig(out, dpi=100)
    except (OSError, ValueError) as error:
        raise PlotError(f"cannot write the plot to {out}: {error}", path=str(out)) from None
    finally:
        pyplot.close(figure)
    return out
