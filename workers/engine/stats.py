"""Statistics over runs: the spread over seeds, and paired comparisons of two methods.

One convention for the spread everywhere (CLI tables, pages, exports): the mean over
seeds, the sample standard deviation (n-1 in the denominator), and a 95% confidence
interval from Student's t with n-1 degrees of freedom, clipped to the metric's range
(`metric_table`: spread clips itself, so no caller can forget). With one seed there is no
spread: std and the interval are None, never a fake 0.

Two methods scored on the same evaluation examples are compared example by example:
the agreement table, McNemar's exact test on the discordant pairs, and a seeded paired
bootstrap of the accuracy and ECE differences. Plain numpy (scipy for the t and binomial
distributions), no torch: the web process calls it on stored predictions.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .metric_table import BOOTSTRAP_RESAMPLES, ECE_BINS, metric as metric_entry
from .metrics import _equal_width_bins, expected_calibration_error

SPREAD_CONVENTION = ("mean ± sample sd (ddof=1) over seeds; 95% CI = mean ± t(0.975, n-1)·sd/sqrt(n), "
                     "clipped to the metric's range")
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float | None
    n: int
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """{"mean", "std", "ci95"} as the CLI's aggregate and the web's summary both report
        it: one seed has std 0 and ci95 None."""
        return {"mean": self.mean, "std": self.std or 0.0,
                "ci95": None if self.ci_low is None else [self.ci_low, self.ci_high]}


def spread(values, bounds: tuple[float, float] | None = None, metric: str | None = None) -> Spread | None:
    """Mean, sample std and 95% t-interval of the values that are not None; None if
    there are none. The interval is clipped to the range of `metric` (a name in
    `metric_table`, e.g. "accuracy": [0, 1]), or to explicit `bounds` (None for an open
    end, e.g. (0, None) for NLL); with neither it is not clipped."""
    if metric is not None:
        if bounds is not None:
            raise ValueError("give spread either a metric name or explicit bounds, not both")
        bounds = metric_entry(metric).range
    data = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if data.size == 0:
        return None
    mean = float(data.mean())
    if data.size == 1:
        return Spread(mean, None, 1, None, None)
    from scipy.stats import t

    std = float(data.std(ddof=1))
    half = float(t.ppf(0.5 + CONFIDENCE / 2, data.size - 1)) * std / math.sqrt(data.size)
    low, high = mean - half, mean + half
    if bounds is not None:
        low = low if bounds[0] is None else max(low, bounds[0])
        high = high if bounds[1] is None else min(high, bounds[1])
    return Spread(mean, std, int(data.size), low, high)


def agreement(correct_a, correct_b) -> dict:
    """How often both, only A, only B or neither got an example right."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"the two methods were scored on different examples ({a.size} vs {b.size})")
    return {"both": int(np.sum(a & b)), "only_a": int(np.sum(a & ~b)),
            "only_b": int(np.sum(~a & b)), "neither": int(np.sum(~a & ~b))}


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: under the null each discordant example is
    equally likely to favour A or B, so min(only_a, only_b) is Binomial(n, 1/2)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, n, 0.5).pvalue)


def _percentile_interval(samples: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def _draw_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """[resamples, n]: how many times each example was drawn in each resample."""
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
    return np.bincount(rows * n + idx.ravel(), minlength=idx.shape[0] * n).reshape(idx.shape[0], n).astype(np.float64)


def _resampled_ece(counts: np.ndarray, conf: np.ndarray, correct: np.ndarray, n_bins: int) -> np.ndarray:
    """The equal-width ECE of every resample at once: an example keeps its bin whatever the
    resample, so ECE = sum over bins of |sum of (confidence - correct) over the bin's draws| / n,
    the same number `metrics.expected_calibration_error` gives for the resampled arrays."""
    onehot = np.zeros((conf.size, n_bins))
    for k, members in enumerate(_equal_width_bins(conf, n_bins)):
        onehot[members, k] = 1.0
    per_bin = counts @ (onehot * (conf - correct)[:, None])  # [resamples, bins]
    return np.abs(per_bin).sum(axis=1) / conf.size


def paired_bootstrap(correct_a, conf_a, correct_b, conf_b, resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = 0, n_bins: int = ECE_BINS) -> dict:
    """Differences A - B in accuracy and equal-width ECE, with percentile intervals from
    resampling the shared evaluation examples (the same indices for both methods). Without
    confidences (conf_a or conf_b None, e.g. a generation task) the ECE keys are None."""
    ca, cb = np.asarray(correct_a, dtype=np.float64), np.asarray(correct_b, dtype=np.float64)
    with_ece = conf_a is not None and conf_b is not None
    pa = np.asarray(conf_a, dtype=np.float64) if with_ece else ca
    pb = np.asarray(conf_b, dtype=np.float64) if with_ece else cb
    if not (ca.shape == cb.shape == pa.shape == pb.shape) or ca.size == 0:
        raise ValueError("both methods need predictions on the same, non-empty set of examples")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, ca.size, size=(resamples, ca.size))
    acc_diffs = ca[idx].mean(axis=1) - cb[idx].mean(axis=1)
    out = {"accuracy_diff": float(ca.mean() - cb.mean()), "accuracy_ci": _percentile_interval(acc_diffs),
           "ece_diff": None, "ece_ci": None, "resamples": resamples, "seed": seed}
    if with_ece:
        counts = _draw_counts(idx, ca.size)
        ece_diffs = _resampled_ece(counts, pa, ca, n_bins) - _resampled_ece(counts, pb, cb, n_bins)
        out["ece_diff"] = expected_calibration_error(pa, ca, n_bins) - expected_calibration_error(pb, cb, n_bins)
        out["ece_ci"] = _percentile_interval(ece_diffs)
    return out


def compare_methods(correct_a, conf_a, correct_b, conf_b, seed: int = 0,
                    resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """Everything the comparison page says about two methods on the same examples,
    including a plain verdict on whether the accuracy gap is more than noise."""
    table = agreement(correct_a, correct_b)
    p_value = mcnemar_exact(table["only_a"], table["only_b"])
    boot = paired_bootstrap(correct_a, conf_a, correct_b, conf_b, seed=seed, resamples=resamples)
    low, high = boot["accuracy_ci"]
    within_noise = low <= 0.0 <= high or p_value >= 1 - CONFIDENCE
    verdict = ("the accuracy difference is within noise" if within_noise else
               f"{'A' if boot['accuracy_diff'] > 0 else 'B'} is more accurate "
               f"(McNemar p = {p_value:.3g}; 95% CI of the difference {low:+.3f} to {high:+.3f})")
    return {"agreement": table, "mcnemar_p": p_value, **boot, "within_noise": within_noise, "verdict": verdict}
