"""The spread convention and the paired statistics, on cases with answers worked out by hand."""
import math
import subprocess
import sys

import numpy as np
import pytest

from workers.engine.metrics import classification_metrics, expected_calibration_error
from workers.engine.stats import agreement, compare_methods, mcnemar_exact, paired_bootstrap, spread


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
