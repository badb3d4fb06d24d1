"""Tests for workers.engine.metrics: classification/calibration metrics
(checked against torchmetrics and hand-computed cases), answer parsers and
exact match."""

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_calibration_error,
)

from workers.engine.metrics import (
    classification_metrics,
    exact_match,
    expected_calibration_error,
    normalise_answer,
    parse_answer,
    renormalise,
)


def _random_predictions(seed, n_examples, n_labels):
    generator = torch.Generator().manual_seed(seed)
    gold = torch.randint(0, n_labels, (n_examples,), generator=generator)
    logits = torch.randn(n_examples, n_labels, generator=generator) * 1.5
    # Push some mass to the gold label so accuracy and confidence vary.
    logits += 1.2 * torch.nn.functional.one_hot(gold, n_labels) * torch.rand(n_examples, 1, generator=generator)
    return torch.softmax(logits, dim=1).float(), gold


# --- classification_metrics against torchmetrics ---------------------------


@pytest.mark.parametrize("n_labels", [2, 4])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_accuracy_and_ece_match_torchmetrics(seed, n_labels):
    probs, gold = _random_predictions(seed, 600, n_labels)
    result = classification_metrics(probs, gold, n_bins=15)
    expected_accuracy = multiclass_accuracy(probs, gold, num_classes=n_labels, average="micro")
    expected_ece = multiclass_calibration_error(probs, gold, num_classes=n_labels, n_bins=15, norm="l1")
    assert result["accuracy"] == pytest.approx(float(expected_accuracy), abs=1e-6)
    assert result["ece"] == pytest.approx(float(expected_ece), abs=1e-6)
    # Sanity: the data is not degenerate.
    assert 0.0 < result["accuracy"] < 1.0
    assert result["ece"] > 0.0


def test_accepts_numpy_and_lists():
    probs, gold = _random_predictions(7, 50, 3)
    from_tensor = classification_metrics(probs, gold)
    from_numpy = classification_metrics(probs.numpy(), gold.numpy())
    from_lists = classification_metrics(probs.tolist(), gold.tolist())
    for key in ("accuracy", "ece", "ece_equal_mass", "brier", "nll"):
        assert from_numpy[key] == pytest.approx(from_tensor[key])
        assert from_lists[key] == pytest.approx(from_tensor[key])


# --- hand-computed cases ----------------------------------------------------

# confidences 0.9 (right), 0.8 (wrong), 0.6 (right), 0.7 (right), 0.55 (wrong),
# 0.5 (tie -> first label, right)
SIX_PROBS = [[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.7, 0.3], [0.55, 0.45], [0.5, 0.5]]
SIX_GOLD = [0, 1, 1, 0, 1, 0]


def test_equal_mass_ece_hand_computed():
    result = classification_metrics(SIX_PROBS, SIX_GOLD, n_bins=3)
    # sorted: (0.5 ok, 0.55 x) | (0.6 ok, 0.7 ok) | (0.8 x, 0.9 ok)
    # |acc - conf|: |0.5 - 0.525|, |1 - 0.65|, |0.5 - 0.85|, each bin 2/6 of the data
    assert result["ece_equal_mass"] == pytest.approx((0.025 + 0.35 + 0.35) / 3)
    bins = result["reliability_equal_mass"]
    assert [row["count"] for row in bins] == [2, 2, 2]
    assert bins[0]["bin_lower"] == pytest.approx(0.5)
    assert bins[0]["bin_upper"] == pytest.approx(0.55)
    assert bins[1]["confidence"] == pytest.approx(0.65)
    assert bins[1]["accuracy"] == pytest.approx(1.0)
    assert bins[2]["accuracy"] == pytest.approx(0.5)


def test_equal_mass_uneven_split():
    probs = SIX_PROBS + [[0.05, 0.95]]
    gold = SIX_GOLD + [1]
    result = classification_metrics(probs, gold, n_bins=3)
    # sizes 3, 2, 2: (0.5 ok, 0.55 x, 0.6 ok) | (0.7 ok, 0.8 x) | (0.9 ok, 0.95 ok)
    expected = 3 / 7 * abs(2 / 3 - 0.55) + 2 / 7 * abs(0.5 - 0.75) + 2 / 7 * abs(1.0 - 0.925)
    assert result["ece_equal_mass"] == pytest.approx(expected)
    assert [row["count"] for row in result["reliability_equal_mass"]] == [3, 2, 2]


def test_equal_width_reliability_rows():
    result = classification_metrics(SIX_PROBS, SIX_GOLD, n_bins=15)
    rows = result["reliability"]
    assert len(rows) == 15
    assert rows[0]["bin_lower"] == 0.0 and rows[-1]["bin_upper"] == 1.0
    assert sum(row["count"] for row in rows) == 6
    empty = [row for row in rows if row["count"] == 0]
    assert empty and all(row["confidence"] is None and row["accuracy"] is None for row in empty)
    # 0.9 lies in [13/15, 14/15): alone in that bin, and correct.
    bin_13 = rows[13]
    assert bin_13["count"] == 1
    assert bin_13["confidence"] == pytest.approx(0.9) and bin_13["accuracy"] == 1.0
    # ECE from the rows equals the reported ECE.
    from_rows = sum(r["count"] / 6 * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"])
    assert result["ece"] == pytest.approx(from_rows)
    assert result["accuracy"] == pytest.approx(4 / 6)


def test_confidence_one_falls_in_last_bin():
    result = classification_metrics([[1.0, 0.0], [0.95, 0.05]], [0, 1], n_bins=15)
    assert result["reliability"][-1]["count"] == 2
    assert result["ece"] == pytest.approx(abs(0.5 - 0.975))


def test_brier_and_nll_hand_computed():
    probs = [[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]
    gold = [0, 1]
    result = classification_metrics(probs, gold)
    first = 0.3**2 + 0.2**2 + 0.1**2
    second = 0.25**2 + 0.75**2 + 0.5**2
    assert result["brier"] == pytest.approx((first + second) / 2)
    assert result["nll"] == pytest.approx(-(math.log(0.7) + math.log(0.25)) / 2)
    assert result["accuracy"] == pytest.approx(0.5)


def test_nll_clamps_zero_probability():
    result = classification_metrics([[1.0, 0.0]], [1])
    assert result["nll"] == pytest.approx(-math.log(1e-12))
    assert result["brier"] == pytest.approx(2.0)


def test_perfect_predictions():
    result = classification_metrics([[1.0, 0.0], [0.0, 1.0]], [0, 1])
    assert result["accuracy"] == 1.0
    assert result["ece"] == pytest.approx(0.0)
    assert result["brier"] == pytest.approx(0.0)
    assert result["nll"] == pytest.approx(0.0)


def _sample_gold(rng, probs):
    cumulative = np.cumsum(probs, axis=1)
    draws = rng.random((len(probs), 1))
    return np.minimum((draws > cumulative).sum(axis=1), probs.shape[1] - 1)


def test_calibrated_data_has_near_zero_ece():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(4, 0.7), size=100_000)
    gold = _sample_gold(rng, probs)
    result = classification_metrics(probs, gold)
    assert result["ece"] < 0.01
    assert result["ece_equal_mass"] < 0.01


def test_overconfident_data_has_large_ece():
    rng = np.random.default_rng(1)
    true_probs = rng.dirichlet(np.full(4, 0.7), size=50_000)
    gold = _sample_gold(rng, true_probs)
    sharpened = true_probs**3
    sharpened /= sharpened.sum(axis=1, keepdims=True)
    result = classification_metrics(sharpened, gold)
    assert result["ece"] > 0.05
    assert result["ece_equal_mass"] > 0.05


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="sum to 1"):
        classification_metrics(np.log([[0.5, 0.5]]) + 1.0, [0])
    with pytest.raises(ValueError, match="sum to 1"):
        classification_metrics([[0.5, 0.6]], [0])
    with pytest.raises(ValueError, match="gold"):
        classification_metrics([[0.5, 0.5]], [2])
    with pytest.raises(ValueError, match="gold"):
        classification_metrics([[0.5, 0.5], [0.5, 0.5]], [0])
    with pytest.raises(ValueError):
        classification_metrics(np.zeros((0, 2)), [])


# --- renormalise ------------------------------------------------------------


def test_renormalise_tensor_and_numpy():
    probs = torch.tensor([[0.02, 0.06, 0.02], [0.001, 0.001, 0.002]], dtype=torch.float64)
    logprobs = probs.log()
    expected = probs / probs.sum(dim=1, keepdim=True)
    out_tensor = renormalise(logprobs)
    assert isinstance(out_tensor, torch.Tensor)
    assert torch.allclose(out_tensor, expected)
    out_numpy = renormalise(logprobs.numpy())
    assert isinstance(out_numpy, np.ndarray)
    assert np.allclose(out_numpy, expected.numpy())


def test_renormalise_handles_very_negative_and_minus_inf():
    logprobs = np.array([[-1000.0, -1001.0, -np.inf]])
    out = renormalise(logprobs)
    e = math.exp(-1.0)
    assert np.allclose(out, [[1 / (1 + e), e / (1 + e), 0.0]])
    assert np.allclose(renormalise(torch.tensor(logprobs)).numpy(), out)


# --- answer parsing and exact match ----------------------------------------


def test_parse_plain():
    assert parse_answer("  Paris\n\nQuestion: capital of Spain?\nAnswer: Madrid", "plain") == "Paris"
    assert parse_answer("first line\nsecond line\n  \nnext", "plain") == "first line\nsecond line"
    assert parse_answer("yes\r\n\r\nno", "plain") == "yes"
    assert parse_answer("no blank line at all ", "plain") == "no blank line at all"
    assert parse_answer("\n\nafter blank", "plain") is None
    assert parse_answer("", "plain") is None


def test_parse_gsm8k():
    text = "She has 1,000 + 234 = 1,234 apples, so the answer is\n#### 1,234"
    assert parse_answer(text, "gsm8k") == "1234"
    assert parse_answer("#### 5\nwait, recount\n#### 7", "gsm8k") == "7"
    assert parse_answer("#### -12", "gsm8k") == "-12"
    assert parse_answer("####$2,500.", "gsm8k") == "2500"
    assert parse_answer("#### 3.75 dollars", "gsm8k") == "3.75"
    assert parse_answer("The answer is 42", "gsm8k") is None
    assert parse_answer("#### unknown", "gsm8k") is None


def test_parse_boxed():
    assert parse_answer(r"so $x = \boxed{\frac{1}{2}}$.", "boxed") == r"\frac{1}{2}"
    assert parse_answer(r"\boxed{3} then \boxed{ 4 }", "boxed") == "4"
    assert parse_answer(r"\boxed{\sqrt{x^{2}+1}} done", "boxed") == r"\sqrt{x^{2}+1}"
    assert parse_answer(r"\boxed{\{1, 2\}}", "boxed") == r"\{1, 2\}"
    # A truncated last box falls back to the last complete one.
    assert parse_answer(r"\boxed{5} hmm \boxed{\frac{1}{", "boxed") == "5"
    assert parse_answer("no box here", "boxed") is None
    assert parse_answer(r"\boxed{}", "boxed") is None


def test_parse_answer_rejects_unknown_parser_and_passes_none():
    with pytest.raises(ValueError, match="unknown answer parser"):
        parse_answer("42", "regex")
    assert parse_answer(None, "gsm8k") is None


def test_normalise_answer():
    assert normalise_answer("  The   answer\n is  42. ") == "The answer is 42"
    assert normalise_answer("3.5") == "3.5"
    assert normalise_answer(None) is None


def test_exact_match():
    predicted = ["42.", " Paris   France", None, "7"]
    gold = ["42", "Paris France", "x", "8"]
    assert exact_match(predicted, gold) == pytest.approx(0.5)
    assert exact_match(["a"], ["a"]) == 1.0
    with pytest.raises(ValueError):
        exact_match(["a"], ["a", "b"])


# --- bin edges (lower edge inclusive, as torchmetrics) ------------------------


def test_a_confidence_on_a_bin_edge_belongs_to_the_bin_above():
    """Four bins [0, .25) [.25, .5) [.5, .75) [.75, 1]: 0.75 and 0.5 open their bins, they do not
    close the bins below (numpy's searchsorted side="right"; "left" would move them down)."""
    result = classification_metrics([[0.75, 0.25], [0.5, 0.5], [0.8, 0.2]], [1, 1, 0], n_bins=4)
    counts = [row["count"] for row in result["reliability"]]
    assert counts == [0, 0, 1, 2]
    top = result["reliability"][3]
    assert (top["bin_lower"], top["bin_upper"]) == (0.75, 1.0)
    assert top["confidence"] == pytest.approx(0.775) and top["accuracy"] == 0.5
    # the 0.5 row alone (wrong at 0.5) and the top bin (half right at 0.775), weighted 1/3 and 2/3
    assert result["ece"] == pytest.approx(1 / 3 * 0.5 + 2 / 3 * 0.275)
    assert expected_calibration_error([0.75, 0.5, 0.8], [0, 0, 1], n_bins=4) == pytest.approx(result["ece"])


def test_answer_parsers_edge_cases():
    # gsm8k: the number may start on the line after the marker; a marker with nothing after it is no answer
    assert parse_answer("so:\n####\n  42\n", "gsm8k") == "42"
    assert parse_answer("the answer is ####", "gsm8k") is None
    assert parse_answer("#### \n", "gsm8k") is None
    # boxed: an escaped closing brace inside the box does not close it
    assert parse_answer(r"\boxed{a\}b} end", "boxed") == r"a\}b"
    assert parse_answer(r"\boxed{\\} \boxed{x\{}", "boxed") == r"x\{"
    # plain: everything before the first blank line, however many follow
    assert parse_answer("a\n\nb\n\nc", "plain") == "a"


def test_exact_match_says_what_is_wrong_with_its_input():
    with pytest.raises(ValueError, match="^1 predictions for 2 gold answers$"):
        exact_match(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="^exact_match needs at least one example$"):
        exact_match([], [])


def test_expected_calibration_error_from_confidences():
    """ECE from per-example confidence and correctness, as the web app stores predictions: the
    bins count (n_bins), torch tensors are accepted, and no prediction is an error."""
    conf, hits = [0.2, 0.45, 0.95, 0.9], [0, 0, 1, 1]
    # two bins: [0.2, 0.45] (accuracy 0 at 0.325: overconfident) and [0.9, 0.95] (1.0 at 0.925: under)
    assert expected_calibration_error(conf, hits, n_bins=2) == pytest.approx(0.5 * 0.325 + 0.5 * 0.075)
    # ten bins: 0.2 and 0.45 alone, 0.9 and 0.95 together
    assert expected_calibration_error(conf, hits, n_bins=10) == pytest.approx((0.2 + 0.45 + 2 * 0.075) / 4)
    assert expected_calibration_error(torch.tensor(conf), torch.tensor(hits)) == pytest.approx(
        expected_calibration_error(conf, hits))
    with pytest.raises(ValueError, match="^no predictions to compute ECE on$"):
        expected_calibration_error([], [])


def test_an_unknown_parser_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"^unknown answer parser 'regex'; use one of plain, gsm8k, boxed$"):
        parse_answer("42", "regex")


def test_renormalise_is_a_float64_softmax_over_the_last_dimension_of_each_row():
    rows = np.array([[-1000.0, -1001.0], [0.0, -1.0]])   # rows far apart: each is shifted by its own max
    e = math.exp(-1.0)
    assert np.allclose(renormalise(rows), [[1 / (1 + e), e / (1 + e)]] * 2)
    one = renormalise(np.array([0.0, math.log(3.0)], dtype=np.float32))   # one example: a vector
    assert one.dtype == np.float64 and np.allclose(one, [0.25, 0.75])
    batch = np.log(np.arange(1.0, 25.0)).reshape(2, 3, 4)
    expected = np.arange(1.0, 25.0).reshape(2, 3, 4)
    expected /= expected.sum(axis=-1, keepdims=True)
    assert np.allclose(renormalise(batch), expected)
    as_tensor = renormalise(torch.tensor(batch, dtype=torch.float32))
    assert as_tensor.dtype == torch.float64 and torch.allclose(as_tensor, torch.tensor(expected), atol=1e-6)
    vector = renormalise(torch.tensor([0.0, math.log(3.0)]))
    assert torch.allclose(vector, torch.tensor([0.25, 0.75], dtype=torch.float64))


def test_bad_input_is_refused_with_a_message_naming_the_fix():
    def refused(probs, gold, message, **kw):
        with pytest.raises(ValueError, match=message):
            classification_metrics(probs, gold, **kw)

    refused(np.zeros((2, 0)), [0, 0],
            r"^label_probs must be a non-empty \[n_examples, n_labels\] array, got shape \(2, 0\)$")
    refused([[0.5, 0.5]], [-1], r"^gold indices must lie in \[0, 1\]$")
    refused([[0.5, 0.5]], [0.5], "^gold must hold integer label indices$")
    refused([[np.nan, 0.5]], [0], r"^label_probs must be finite and non-negative \(probabilities, not log-probs\)$")
    refused([[1.2, -0.2]], [0], r"^label_probs must be finite and non-negative \(probabilities, not log-probs\)$")
    refused([[0.5, 0.6]], [0], r"^rows of label_probs must sum to 1; renormalise over the label set first "
                               r"\(see workers\.engine\.metrics\.renormalise\)$")
    for n_bins in (0, -3, 2.5):
        refused([[0.5, 0.5]], [0], rf"^n_bins must be a positive integer, got {n_bins}$", n_bins=n_bins)


def test_integral_float_gold_and_a_single_bin_are_accepted():
    probs = [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]
    as_float = classification_metrics(probs, np.array([0.0, 1.0, 1.0]))
    assert as_float == classification_metrics(probs, [0, 1, 1])
    one_bin = classification_metrics(probs, [0, 1, 1], n_bins=1)
    assert one_bin["ece"] == pytest.approx(abs(2 / 3 - 0.7)) == one_bin["ece_equal_mass"]
    assert [r["count"] for r in one_bin["reliability"]] == [3]
    only_label = classification_metrics([[1.0], [1.0]], [0, 0])   # one label: always right, fully confident
    assert only_label["accuracy"] == 1.0 and only_label["ece"] == 0.0


def test_equal_mass_bins_keep_tied_confidences_in_example_order():
    """60 predictions alternating between confidence 0.6 (even examples) and 0.9 (odd ones), in
    3 bins of 20: sorted stably, bin 1 holds the even examples 0-38, bin 2 the even 40-58 and
    the odd 1-19, bin 3 the odd 21-59. Right: the even ones under 40 and the odd ones under 20."""
    probs = np.array([[0.6, 0.4] if i % 2 == 0 else [0.9, 0.1] for i in range(60)])
    right = [(i % 2 == 0 and i < 40) or (i % 2 == 1 and i < 20) for i in range(60)]
    result = classification_metrics(probs, [0 if r else 1 for r in right], n_bins=3)
    rows = result["reliability_equal_mass"]
    assert [r["accuracy"] for r in rows] == [1.0, 0.5, 0.0]
    assert [r["confidence"] for r in rows] == [pytest.approx(0.6), pytest.approx(0.75), pytest.approx(0.9)]
    assert result["ece_equal_mass"] == pytest.approx((0.4 + 0.25 + 0.9) / 3)


def test_tensors_and_float32_inputs_are_scored_in_float64():
    """A tensor still attached to its graph, or float32 numbers, give exactly what the same values
    give as a float64 array: everything is computed in float64."""
    probs, gold = _random_predictions(3, 80, 3)
    as_float64 = classification_metrics(probs.double().numpy(), gold.numpy())
    attached = probs.clone().requires_grad_(True)
    assert classification_metrics(attached, gold) == as_float64
    assert classification_metrics(probs.numpy(), gold.numpy()) == as_float64   # a float32 array
    conf, hits = probs.max(dim=1).values, (probs.argmax(dim=1) == gold).float()
    assert expected_calibration_error(conf.requires_grad_(True), hits) == as_float64["ece"]
