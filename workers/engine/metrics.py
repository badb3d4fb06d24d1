"""Evaluation metrics for the engine: classification scores and calibration,
answer parsing and exact match for generation tasks.

Everything here works on plain arrays (numpy arrays, torch tensors or nested
lists) and returns plain Python values, so results can go straight into the
JSON run-result dicts described in CONTRACT.md.

Classification
    ``renormalise`` turns per-label summed log-probabilities into a
    distribution over the label set; ``classification_metrics`` computes
    accuracy, ECE (equal-width bins, matching torchmetrics'
    ``MulticlassCalibrationError(norm="l1")``, and equal-mass bins), Brier
    score, NLL and reliability-diagram bins.

Generation
    ``parse_answer`` extracts the answer from a greedy continuation
    (``plain``, ``gsm8k`` ``#### 42`` or MATH-style ``\\boxed{...}``);
    ``normalise_answer`` and ``exact_match`` score the parsed answers.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from .metric_table import ECE_BINS

__all__ = [
    "ANSWER_PARSERS",
    "classification_metrics",
    "expected_calibration_error",
    "exact_match",
    "normalise_answer",
    "parse_answer",
    "renormalise",
]

ANSWER_PARSERS = ("plain", "gsm8k", "boxed")

NLL_MIN_PROB = 1e-12
# Rows of label_probs must sum to 1 within this tolerance (catches log-probs
# or unnormalised scores passed by mistake, yet tolerates half precision).
ROW_SUM_TOLERANCE = 1e-2


def _is_tensor(values: Any) -> bool:
    """A torch tensor, told without importing torch: this module is also used by the
    torch-free web process (statistics over stored predictions)."""
    return type(values).__module__.split(".")[0] == "torch"


def _as_float64_array(values: Any) -> np.ndarray:
    if _is_tensor(values):
        import torch

        return values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


def _as_int_array(values: Any) -> np.ndarray:
    if _is_tensor(values):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError("gold must hold integer label indices")
    return array.astype(np.int64)


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------


def renormalise(label_logprobs: Any) -> Any:
    """Turn summed per-label log-probabilities [n, L] into probabilities over
    the label set: p_i / sum_j p_j, i.e. a softmax over the last dimension.

    A torch tensor comes back as a float64 tensor on the same device; anything
    else comes back as a float64 numpy array. A label with log-prob ``-inf``
    gets probability 0.
    """
    if _is_tensor(label_logprobs):
        import torch

        return torch.softmax(label_logprobs.detach().to(torch.float64), dim=-1)
    logprobs = np.asarray(label_logprobs, dtype=np.float64)
    shifted = logprobs - np.max(logprobs, axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / np.sum(weights, axis=-1, keepdims=True)


def _equal_width_bins(confidences: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Indices per bin for bins [k/n_bins, (k+1)/n_bins).

    Same edges as torchmetrics (lower edge inclusive), except that a
    confidence of exactly 1.0 falls in the last bin rather than in an extra
    overflow bin, so there are always exactly ``n_bins`` bins.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_ids = np.searchsorted(edges, confidences, side="right") - 1
    bin_ids = np.clip(bin_ids, 0, n_bins - 1)
    return [np.flatnonzero(bin_ids == k) for k in range(n_bins)]


def _equal_mass_bins(confidences: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Indices per bin after sorting by confidence and splitting into
    ``n_bins`` groups whose sizes differ by at most one (larger ones first).
    With fewer examples than bins the trailing bins are empty."""
    order = np.argsort(confidences, kind="stable")
    return list(np.array_split(order, n_bins))


def _binned_calibration(
    confidences: np.ndarray,
    correct: np.ndarray,
    bins: list[np.ndarray],
    edges: list[tuple[float | None, float | None]],
) -> tuple[float, list[dict]]:
    """ECE (L1) and reliability rows for a given partition of examples."""
    n_examples = len(confidences)
    ece = 0.0
    rows = []
    for members, (lower, upper) in zip(bins, edges):
        count = int(len(members))
        if count == 0:
            rows.append(
                {"bin_lower": lower, "bin_upper": upper,
                 "confidence": None, "accuracy": None, "count": 0}
            )
            continue
        bin_confidence = float(np.mean(confidences[members]))
        bin_accuracy = float(np.mean(correct[members]))
        ece += count / n_examples * abs(bin_accuracy - bin_confidence)
        rows.append(
            {"bin_lower": lower, "bin_upper": upper,
             "confidence": bin_confidence, "accuracy": bin_accuracy, "count": count}
        )
    return float(ece), rows


def expected_calibration_error(confidences: Any, correct: Any, n_bins: int = ECE_BINS) -> float:
    """Equal-width-bin ECE (L1) from per-example confidence and correctness, the
    numbers the web app stores per prediction (used for paired bootstrap resamples)."""
    conf = _as_float64_array(confidences)
    hits = _as_float64_array(correct)
    if conf.size == 0:
        raise ValueError("no predictions to compute ECE on")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece, _ = _binned_calibration(conf, hits, _equal_width_bins(conf, n_bins),
                                 [(float(edges[k]), float(edges[k + 1])) for k in range(n_bins)])
    return ece


def classification_metrics(label_probs: Any, gold: Any, n_bins: int = ECE_BINS) -> dict:
    """Accuracy, calibration and proper scores for label-set predictions.

    label_probs: [n_examples, n_labels] probabilities already renormalised
        over the label set (each row sums to 1); see ``renormalise``.
    gold: [n_examples] integer index of the correct label.
    n_bins: number of calibration bins for both binning schemes (the metric
        table's ``ECE_BINS`` unless a test asks for another).

    Confidence is the largest probability of a row; the prediction is its
    argmax (first label on ties). Returns a dict with:
      accuracy, ece (equal-width bins, L1, as torchmetrics),
      ece_equal_mass (equal-mass bins), brier (multiclass: mean over examples
      of sum over labels of (p - onehot)^2), nll (mean -log p_gold with p
      clamped to >= 1e-12), reliability and reliability_equal_mass (one dict
      per bin: bin_lower, bin_upper, confidence, accuracy, count; empty bins
      have count 0 and None for confidence/accuracy). For equal-mass bins the
      edges are the smallest and largest confidence in the bin.
    """
    probs = _as_float64_array(label_probs)
    gold_ids = _as_int_array(gold)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(
            f"label_probs must be a non-empty [n_examples, n_labels] array, got shape {probs.shape}"
        )
    n_examples, n_labels = probs.shape
    if gold_ids.shape != (n_examples,):
        raise ValueError(
            f"gold must have shape ({n_examples},) to match label_probs, got {gold_ids.shape}"
        )
    if np.any(gold_ids < 0) or np.any(gold_ids >= n_labels):
        raise ValueError(f"gold indices must lie in [0, {n_labels - 1}]")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError("label_probs must be finite and non-negative (probabilities, not log-probs)")
    row_sums = probs.sum(axis=1)
    if np.any(np.abs(row_sums - 1.0) > ROW_SUM_TOLERANCE):
        raise ValueError(
            "rows of label_probs must sum to 1; renormalise over the label set first "
            "(see workers.engine.metrics.renormalise)"
        )
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")

    predicted = np.argmax(probs, axis=1)
    confidences = probs[np.arange(n_examples), predicted]
    correct = (predicted == gold_ids).astype(np.float64)

    width_edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece, reliability = _binned_calibration(
        confidences,
        correct,
        _equal_width_bins(confidences, n_bins),
        [(float(width_edges[k]), float(width_edges[k + 1])) for k in range(n_bins)],
    )

    mass_bins = _equal_mass_bins(confidences, n_bins)
    mass_edges = [
        (float(confidences[m].min()), float(confidences[m].max())) if len(m) else (None, None)
        for m in mass_bins
    ]
    ece_equal_mass, reliability_equal_mass = _binned_calibration(
        confidences, correct, mass_bins, mass_edges
    )

    onehot = np.zeros_like(probs)
    onehot[np.arange(n_examples), gold_ids] = 1.0
    brier = float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))
    gold_probs = np.maximum(probs[np.arange(n_examples), gold_ids], NLL_MIN_PROB)
    nll = float(np.mean(-np.log(gold_probs)))

    return {
        "accuracy": float(np.mean(correct)),
        "ece": ece,
        "ece_equal_mass": ece_equal_mass,
        "brier": brier,
        "nll": nll,
        "reliability": reliability,
        "reliability_equal_mass": reliability_equal_mass,
    }


# ---------------------------------------------------------------------------
# Generation: answer parsing and exact match
# ---------------------------------------------------------------------------

_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_BOXED_START = re.compile(r"\\boxed\s*\{")


def _parse_plain(text: str) -> str | None:
    answer = _BLANK_LINE.split(text, maxsplit=1)[0].strip()
    return answer or None


def _parse_gsm8k(text: str) -> str | None:
    if "####" not in text:
        return None
    after_marker = text.rsplit("####", 1)[1].lstrip()
    first_line = after_marker.splitlines()[0] if after_marker else ""
    match = _NUMBER.search(first_line)
    if match is None:
        return None
    return match.group(0).replace(",", "").strip() or None


def _boxed_content(text: str, open_brace: int) -> str | None:
    """Content between the brace at ``open_brace`` and its matching close
    brace; escaped braces (``\\{``, ``\\}``) do not count. None if unclosed."""
    depth = 0
    position = open_brace
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1:position]
        position += 1
    return None


def _parse_boxed(text: str) -> str | None:
    # Try the last \boxed{ first; an unclosed one (truncated generation) falls
    # back to the last complete box before it.
    for match in reversed(list(_BOXED_START.finditer(text))):
        content = _boxed_content(text, match.end() - 1)
        if content is not None:
            return content.strip() or None
    return None


_PARSERS = {"plain": _parse_plain, "gsm8k": _parse_gsm8k, "boxed": _parse_boxed}


def parse_answer(text: str | None, parser: str) -> str | None:
    """Extract the answer from a generated continuation.

    parser:
      "plain": the text up to the first blank line, stripped.
      "gsm8k": the number after the last ``####`` with thousands commas
               removed ("#### 1,234" -> "1234").
      "boxed": the content of the last ``\\boxed{...}``, braces balanced
               (nested braces kept, escaped braces ignored).
    Returns None when no (non-empty) answer is found.
    """
    if parser not in _PARSERS:
        raise ValueError(f"unknown answer parser {parser!r}; use one of {', '.join(ANSWER_PARSERS)}")
    if text is None:
        return None
    return _PARSERS[parser](text)


def normalise_answer(answer: str | None) -> str | None:
    """Canonical form for exact match: strip, drop one trailing period,
    collapse runs of whitespace to a single space. None stays None."""
    if answer is None:
        return None
    answer = answer.strip()
    if answer.endswith("."):
        answer = answer[:-1]
    return " ".join(answer.split())


def exact_match(predicted: Sequence[str | None], gold: Sequence[str]) -> float:
    """Fraction of predictions equal to the gold answer after
    ``normalise_answer``. A None prediction (nothing parsed) counts as wrong."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold answers")
    if len(gold) == 0:
        raise ValueError("exact_match needs at least one example")
    hits = 0
    for prediction, reference in zip(predicted, gold):
        normalised = normalise_answer(prediction)
        if normalised is not None and normalised == normalise_answer(reference):
            hits += 1
    return hits / len(gold)
