"""The one table of the metrics the lab reports: for each, its name (the result key), the
range it can take, its label and unit, its calibration bins, its bootstrap resamples and
which direction is better.

Why one table: the CLI, the web pages, the exports and the charts used to restate these
conventions (and had drifted: the CLI's 95% CI was not clipped to the range, ECE's "15 bins"
was written five times, the bootstrap drew 2000 resamples here and 1000 on the web). Every
layer now reads this module: `stats.spread` clips to `range`, `metrics` bins ECE with
`ECE_BINS`, `stats.paired_bootstrap` draws `BOOTSTRAP_RESAMPLES`, the web serves `served()`
to the JavaScript in its page JSON. Plain Python: no torch, no Django.

`scope` says what one value describes: "run" (one number per run and evaluation task: the
summary and export columns, in this order), "layer" (one per layer of a run) or "pair"
(one per pair of trained adapters).
"""
from __future__ import annotations

from dataclasses import dataclass

ECE_BINS = 15  # equal-width (and equal-mass) confidence bins of ECE and the reliability diagrams
BOOTSTRAP_RESAMPLES = 2000  # paired bootstrap resamples of the accuracy and ECE differences
MIN_EXAMPLES_PER_BIN = 10  # fewer evaluation examples per ECE bin on average: ECE is mostly noise


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    range: tuple[float | None, float | None]  # (lo, hi); None is an open end
    direction: str | None  # "higher" or "lower" is better; None: neither
    scope: str = "run"
    bins: int | None = None  # calibration bins the value is computed over
    binning: str | None = None  # "equal-width" or "equal-mass"
    resamples: int | None = None  # bootstrap resamples of a paired difference in this metric

    @property
    def title(self) -> str:
        """The label with its bins, e.g. "ECE (15 equal-width bins)" (the bins replace what the
        label says in brackets): chart titles and captions."""
        return f"{self.label.split(' (')[0]} ({self.bins} {self.binning} bins)" if self.bins else self.label

    @property
    def axis(self) -> list:
        """The charts' value axis: a bounded score where higher is better on its whole range
        (how far from perfect), 2% headroom so points at the top stay visible; any other
        metric from its lower end, the top left to the data (None)."""
        lo, hi = self.range
        if self.direction == "higher" and lo is not None and hi is not None:
            return [lo, hi + 0.02 * (hi - lo)]
        return [lo, None]

    def as_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "title": self.title, "unit": self.unit,
                "range": list(self.range), "axis": self.axis, "direction": self.direction, "scope": self.scope,
                "bins": self.bins, "binning": self.binning, "resamples": self.resamples}


METRICS: tuple[Metric, ...] = (
    Metric("accuracy", "Accuracy", "fraction correct", (0.0, 1.0), "higher", resamples=BOOTSTRAP_RESAMPLES),
    Metric("ece", "ECE", "|confidence − accuracy|", (0.0, 1.0), "lower", bins=ECE_BINS, binning="equal-width",
           resamples=BOOTSTRAP_RESAMPLES),
    Metric("ece_equal_mass", "ECE (equal mass)", "|confidence − accuracy|", (0.0, 1.0), "lower", bins=ECE_BINS,
           binning="equal-mass"),
    Metric("brier", "Brier", "squared error summed over labels", (0.0, 2.0), "lower"),
    Metric("nll", "NLL", "nats", (0.0, None), "lower"),
    Metric("mean_similarity", "Mean cos to ICL", "cosine similarity", (-1.0, 1.0), "higher"),
    Metric("cosine", "Cosine similarity to ICL", "cosine similarity", (-1.0, 1.0), "higher", scope="layer"),
    Metric("cka", "CKA to ICL", "linear CKA", (0.0, 1.0), "higher", scope="layer"),
    Metric("adapter_overlap", "LoRA subspace overlap", "‖U_aᵀ U_b‖²_F / r", (0.0, 1.0), None, scope="pair"),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
RUN_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.scope == "run")


def metric(name: str) -> Metric:
    """The table's entry for `name`; a KeyError names the known metrics."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; the metric table has {', '.join(BY_NAME)}") from None


def served() -> dict:
    """The table as JSON for the pages' scripts: {name: entry}, in the table's order."""
    return {m.name: m.as_dict() for m in METRICS}
