"""The spread convention and the paired statistics, on cases with answers worked out by hand."""
import math
import subprocess
import sys

import numpy as np
import pytest

from workers.engine.metrics import classification_metrics, expected_calibration_error
from workers.engine.stats import (BOOTSTRAP_RESAMPLES, agreement, compare_methods, mcnemar_exact, paired_bootstrap,
                                  spread)


def test_spread_is_sample_sd_with_a_t_interval():
    s = spread([0.5, 0.6, 0.7])
    assert s.mean == pytest.approx(0.6)
    assert s.std == pytest.approx(0.1)  # sample sd; the population sd would be 0.0816
    half = 4.302652729749462 * 0.1 / math.sqrt(3)  # t(0.975, 2) from a table
    assert (s.ci_low, s.ci_high) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))


def test_spread_is_clipped_to_the_metric_range_and_absent_for_one_seed():
    s = spread([0.95, 1.0], bounds=(0.0, 1.0))
    half = 12.706204736174698 * math.sqrt(0.00125) / math.sqrt(2)  # t(0.975, 1) * sd / sqrt(n) = 0.318
    assert s.ci_high == 1.0 and s.ci_low == pytest.approx(0.975 - half)
    one = spread([0.7, None])
    assert one.n == 1 and one.std is None and one.ci_low is None
    assert spread([None]) is None


def test_mcnemar_exact_matches_the_binomial_by_hand():
    # 1 vs 9 discordant pairs: p = 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0


def test_agreement_table_counts_each_cell():
    a = [1, 1, 0, 0, 1]
    b = [1, 0, 1, 0, 0]
    assert agreement(a, b) == {"both": 1, "only_a": 2, "only_b": 1, "neither": 1}
    with pytest.raises(ValueError, match="different examples"):
        agreement([1, 0], [1])


def test_ece_from_confidences_equals_the_metrics_ece():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet([1, 1, 1], size=60)
    gold = rng.integers(0, 3, size=60)
    full = classification_metrics(probs, gold)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == gold
    assert expected_calibration_error(conf, correct) == pytest.approx(full["ece"])


def test_paired_bootstrap_on_a_known_gap():
    n = 100
    correct_a, conf_a = np.ones(n), np.ones(n)  # always right, fully confident: ECE 0
    correct_b, conf_b = np.arange(n) % 2 == 0, np.ones(n)  # right half the time at confidence 1: ECE 0.5
    result = paired_bootstrap(correct_a, conf_a, correct_b, conf_b, seed=7)
    assert result["accuracy_diff"] == pytest.approx(0.5)
    assert result["ece_diff"] == pytest.approx(-0.5)
    low, high = result["accuracy_ci"]
    # B's resampled accuracy has sd sqrt(0.25 / 100) = 0.05: the 95% interval is about 0.5 +- 0.1
    assert 0.38 < low < 0.45 and 0.55 < high < 0.62
    assert result == paired_bootstrap(correct_a, conf_a, correct_b, conf_b, seed=7)  # seeded


def test_identical_methods_are_within_noise_and_a_clear_gap_is_not():
    rng = np.random.default_rng(0)
    correct = rng.random(200) < 0.7
    conf = rng.uniform(0.5, 1.0, 200)
    same = compare_methods(correct, conf, correct, conf)
    assert same["within_noise"] and same["mcnemar_p"] == 1.0 and "within noise" in same["verdict"]
    better = compare_methods(np.ones(200), conf, correct, conf)
    assert not better["within_noise"] and better["verdict"].startswith("A is more accurate")


def test_stats_do_not_import_torch():
    code = "import sys, workers.engine.stats as s; s.compare_methods([1,0],[.9,.6],[0,0],[.8,.7]); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_resampled_ece_equals_the_metrics_ece_of_each_resample():
    """The bootstrap computes every resample's ECE at once; each equals the metrics' ECE of
    the resampled arrays (confidences on bin edges and at 1.0 included)."""
    from workers.engine.stats import _draw_counts, _resampled_ece

    rng = np.random.default_rng(5)
    conf = np.concatenate([rng.random(57), [0.0, 1 / 15, 0.2, 1.0]])
    correct = (rng.random(conf.size) < 0.6).astype(float)
    idx = rng.integers(0, conf.size, size=(40, conf.size))
    fast = _resampled_ece(_draw_counts(idx, conf.size), conf, correct, 15)
    slow = [expected_calibration_error(conf[i], correct[i], 15) for i in idx]
    assert fast == pytest.approx(slow, abs=1e-12)


def _two_methods(n=120, seed=11):
    rng = np.random.default_rng(seed)
    correct_a, correct_b = rng.random(n) < 0.75, rng.random(n) < 0.6
    # confidences over most of [0, 1]: some bins under-, others overconfident, so the bins count
    conf_a, conf_b = rng.uniform(0.1, 1.0, n), rng.uniform(0.05, 1.0, n)
    return correct_a, conf_a, correct_b, conf_b


def test_bootstrap_intervals_are_percentiles_of_differences_over_the_same_resampled_examples():
    """The 95% intervals are the 2.5th and 97.5th percentiles of A - B over resamples that draw
    the same example indices for both methods (numpy's default_rng(seed)), the ECE of each
    resample being the metrics' ECE of the resampled arrays in n_bins bins."""
    correct_a, conf_a, correct_b, conf_b = _two_methods()
    conf_a = conf_a.astype(np.float32).astype(np.float64)   # exactly the values of the float32 array below
    out = paired_bootstrap(correct_a, conf_a.astype(np.float32), correct_b, conf_b, resamples=300, seed=4, n_bins=10)
    idx = np.random.default_rng(4).integers(0, correct_a.size, size=(300, correct_a.size))
    acc = [correct_a[i].mean() - correct_b[i].mean() for i in idx]
    ece = [expected_calibration_error(conf_a[i], correct_a[i], 10)
           - expected_calibration_error(conf_b[i], correct_b[i], 10) for i in idx]
    assert out["accuracy_ci"] == pytest.approx(tuple(np.percentile(acc, [2.5, 97.5])), abs=1e-12)
    assert out["ece_ci"] == pytest.approx(tuple(np.percentile(ece, [2.5, 97.5])), abs=1e-12)
    assert out["accuracy_diff"] == pytest.approx(correct_a.mean() - correct_b.mean())
    assert out["ece_diff"] == pytest.approx(expected_calibration_error(conf_a, correct_a, 10)
                                            - expected_calibration_error(conf_b, correct_b, 10))
    assert out["ece_diff"] != pytest.approx(expected_calibration_error(conf_a, correct_a)
                                            - expected_calibration_error(conf_b, correct_b))  # the bins count
    assert (out["resamples"], out["seed"]) == (300, 4)
    assert out["accuracy_ci"][0] < out["accuracy_diff"] < out["accuracy_ci"][1]
    assert paired_bootstrap(correct_a, conf_a, correct_b, conf_b, resamples=300, seed=5) != out
    assert paired_bootstrap(correct_a, conf_a, correct_b, conf_b) == paired_bootstrap(  # seed 0 unless told
        correct_a, conf_a, correct_b, conf_b, seed=0)


def test_bootstrap_without_confidences_compares_accuracy_only():
    correct_a, conf_a, correct_b, conf_b = _two_methods()
    with_conf = paired_bootstrap(correct_a, conf_a, correct_b, conf_b, resamples=200)
    for missing in ((None, conf_b), (conf_a, None), (None, None)):
        out = paired_bootstrap(correct_a, missing[0], correct_b, missing[1], resamples=200)
        assert out["ece_diff"] is None and out["ece_ci"] is None
        assert out["accuracy_ci"] == with_conf["accuracy_ci"]
    assert with_conf["resamples"] == 200
    assert paired_bootstrap([1, 0], None, [0, 0], None)["resamples"] == BOOTSTRAP_RESAMPLES


@pytest.mark.parametrize("args", [([1, 0, 1], [.9, .8, .7], [1, 0], [.9, .8]),
                                  ([1, 0], [.9, .8, .7], [1, 0], [.9, .8]),
                                  ([1, 0], [.9, .8], [1, 0], [.9]),
                                  ([], [], [], [])])
def test_bootstrap_needs_the_same_non_empty_examples_for_both(args):
    with pytest.raises(ValueError, match="^both methods need predictions on the same, non-empty set of examples$"):
        paired_bootstrap(*args)


def test_compare_methods_passes_its_seed_and_resamples_and_says_which_is_better():
    correct_a, conf_a, correct_b, conf_b = _two_methods(n=300)
    out = compare_methods(correct_b, conf_b, correct_a, conf_a, seed=3, resamples=400)   # B is the better one
    boot = paired_bootstrap(correct_b, conf_b, correct_a, conf_a, seed=3, resamples=400)
    assert {k: out[k] for k in boot} == boot
    assert out["agreement"] == agreement(correct_b, correct_a)
    assert out["mcnemar_p"] == mcnemar_exact(out["agreement"]["only_a"], out["agreement"]["only_b"])
    low, high = boot["accuracy_ci"]
    assert high < 0 and out["mcnemar_p"] < 0.05 and not out["within_noise"]
    assert out["verdict"] == (f"B is more accurate (McNemar p = {out['mcnemar_p']:.3g}; "
                              f"95% CI of the difference {low:+.3f} to {high:+.3f})")
    default = compare_methods(correct_a, conf_a, correct_b, conf_b)
    assert default["resamples"] == BOOTSTRAP_RESAMPLES
    assert default == compare_methods(correct_a, conf_a, correct_b, conf_b, seed=0)


def test_a_method_right_wherever_the_other_is_wrong_is_not_within_noise():
    right, wrong = np.ones(20), np.zeros(20)
    out = compare_methods(right, None, wrong, None)
    assert out["accuracy_ci"] == (1.0, 1.0) and out["mcnemar_p"] == pytest.approx(2 * 0.5 ** 20)
    assert not out["within_noise"] and out["verdict"].startswith("A is more accurate (McNemar p = 1.91e-06;")


def test_a_gap_mcnemar_does_not_confirm_is_within_noise():
    """0 vs 5 discordant examples: p = 2/32 = 0.0625, though the bootstrap interval of the
    accuracy difference (5 of 200 examples) stays below zero: both must agree."""
    correct_a = np.ones(200)
    correct_b = np.concatenate([np.zeros(5), np.ones(195)])
    out = compare_methods(correct_b, None, correct_a, None, seed=0)
    assert out["mcnemar_p"] == pytest.approx(0.0625)
    assert out["accuracy_ci"][1] < 0
    assert out["within_noise"] and out["verdict"] == "the accuracy difference is within noise"
    edge = compare_methods(correct_a, None, correct_a, None)   # no difference at all: an interval [0, 0]
    assert edge["accuracy_ci"] == (0.0, 0.0) and edge["within_noise"]


def test_spread_clips_each_end_of_the_interval_only_where_the_range_has_one():
    values = [0.01, 0.02, 0.9]
    free = spread(values)
    assert free.ci_low < 0 < 1 < free.ci_high
    assert free.ci_high - free.mean == pytest.approx(free.mean - free.ci_low)   # symmetric before clipping
    low_only = spread(values, bounds=(0.0, None))
    assert (low_only.ci_low, low_only.ci_high) == (0.0, free.ci_high)
    high_only = spread(values, bounds=(None, 1.0))
    assert (high_only.ci_low, high_only.ci_high) == (free.ci_low, 1.0)
    inside = spread([0.5, 0.52], bounds=(0.0, 1.0))
    assert (inside.ci_low, inside.ci_high) == (spread([0.5, 0.52]).ci_low, spread([0.5, 0.52]).ci_high)
    assert spread([0.5, None, 0.7]).as_dict() == {"mean": pytest.approx(0.6), "std": pytest.approx(math.sqrt(0.02)),
                                                  "n": 2, "ci_low": pytest.approx(0.6 - 12.706204736174698 * 0.1),
                                                  "ci_high": pytest.approx(0.6 + 12.706204736174698 * 0.1)}
    assert spread([]) is None and spread([0.4]).as_dict() == {"mean": 0.4, "std": None, "n": 1, "ci_low": None,
                                                              "ci_high": None}


def test_spread_summary_is_what_the_cli_and_the_web_report():
    several = spread([0.9, 1.0, 0.95], bounds=(0.0, 1.0))
    assert several.summary() == {"mean": pytest.approx(0.95), "std": pytest.approx(0.05),
                                 "ci95": [pytest.approx(several.ci_low), 1.0]}
    assert spread([0.7]).summary() == {"mean": 0.7, "std": 0.0, "ci95": None}   # one seed: no interval


def test_agreement_counts_each_cell_whatever_the_type_of_correctness():
    assert agreement([0, 0, 0, 1], [0, 0, 1, 0]) == {"both": 0, "only_a": 1, "only_b": 1, "neither": 2}
    floats, bools = np.array([1.0, 1.0, 0.0, 0.0]), np.array([True, False, True, False])
    assert agreement(floats, bools) == {"both": 1, "only_a": 1, "only_b": 1, "neither": 1}


def test_spread_takes_the_range_from_the_metric_name_or_from_bounds_never_both():
    assert spread([0.95, 1.0], metric="accuracy").ci_high == 1.0
    assert spread([0.95, 1.0], metric="accuracy") == spread([0.95, 1.0], bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match="^give spread either a metric name or explicit bounds, not both$"):
        spread([0.5, 0.6], bounds=(0.0, 1.0), metric="accuracy")
