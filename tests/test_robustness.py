"""Robustness measures: hand-worked examples, stated denominators, and a brute-force reference."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from structrob.robustness import (
    MEASURES,
    average_confidence,
    average_eps,
    error_rate,
    measures,
    record,
)


def test_error_rate_denominator_is_clean_correct_images():
    # 5 images, 4 correct when clean, 2 of those fooled; image 4 is wrong when clean.
    success = [True, False, True, False, False]
    clean_correct = [True, True, True, True, False]
    assert error_rate(success, clean_correct) == 2 / 4


def test_error_rate_ignores_success_flag_on_clean_mistakes():
    # a success flagged on an image misclassified when clean counts neither above nor below
    assert error_rate([True, True, False], [True, False, True]) == 1 / 2


def test_error_rate_without_correct_images_is_nan():
    assert math.isnan(error_rate([False, False], [False, False]))


def test_average_confidence_is_mean_over_successes_only():
    assert average_confidence([0.5, 0.99, 0.75], [True, False, True]) == 0.625
    assert math.isnan(average_confidence([0.5, 0.2], [False, False]))


def test_average_eps_excludes_censored_and_rejects_missing_eps():
    assert average_eps([0.011, math.nan, 0.051], [True, False, True]) == pytest.approx(
        0.031, abs=1e-15
    )
    assert math.isnan(average_eps([math.nan], [False]))
    with pytest.raises(ValueError, match="finite wherever success"):
        average_eps([math.nan, 0.1], [True, True])


def test_measures_hand_example_with_eps():
    result = SimpleNamespace(
        success=np.array([True, False, False, True, False]),
        clean_correct=np.array([True, True, False, True, True]),
        confidence=np.array([0.6, 0.9, 0.3, 0.8, 0.99]),
        eps=np.array([0.021, math.nan, math.nan, 0.041, math.nan]),
    )
    got = measures(result)
    assert list(got) == list(MEASURES)
    assert got["n_correct"] == 4 and got["n_success"] == 2 and got["n_censored"] == 2
    assert got["error_rate"] == 0.5
    assert got["avg_confidence"] == pytest.approx(0.7, abs=1e-15)
    assert got["avg_eps"] == pytest.approx(0.031, abs=1e-15)


def test_measures_without_eps_reports_none():
    result = SimpleNamespace(
        success=[True, False], clean_correct=[True, True], confidence=[0.7, 0.8], eps=None
    )
    got = measures(result)
    assert got["avg_eps"] is None and got["n_censored"] is None
    assert got["error_rate"] == 0.5 and got["avg_confidence"] == 0.7


def test_measures_match_brute_force_loop_on_random_data():
    rng = np.random.default_rng(0)
    n = 200
    clean_correct = rng.random(n) < 0.9
    success = (rng.random(n) < 0.4) & clean_correct
    confidence = rng.random(n)
    eps = np.where(success, rng.choice(np.arange(100) * 0.01 + 0.001, n), np.nan)
    got = measures(
        SimpleNamespace(
            success=success, clean_correct=clean_correct, confidence=confidence, eps=eps
        )
    )
    correct_ids = [i for i in range(n) if clean_correct[i]]
    fooled_ids = [i for i in correct_ids if success[i]]
    assert got["error_rate"] == len(fooled_ids) / len(correct_ids)
    assert got["avg_confidence"] == pytest.approx(
        sum(confidence[i] for i in fooled_ids) / len(fooled_ids), rel=1e-12
    )
    assert got["avg_eps"] == pytest.approx(
        sum(eps[i] for i in fooled_ids) / len(fooled_ids), rel=1e-12
    )
    assert got["n_censored"] == len(correct_ids) - len(fooled_ids)


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="boolean"):
        error_rate([1, 0], [True, True])
    with pytest.raises(ValueError, match="same shape"):
        error_rate([True], [True, False])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        average_confidence([0.5], [True, False])


def test_record_prefixes_every_measure_and_keeps_metrics():
    result = SimpleNamespace(
        success=[True, False], clean_correct=[True, True], confidence=[0.7, 0.8], eps=None
    )
    row = record(
        {"fgsm": result, "one_pixel": {"error_rate": 0.1}}, clean_accuracy=0.97, macro_f1=0.96
    )
    assert row["clean_accuracy"] == 0.97 and row["macro_f1"] == 0.96
    assert row["fgsm_error_rate"] == 0.5 and row["fgsm_avg_eps"] is None
    assert row["one_pixel_error_rate"] == 0.1
    assert len(row) == 2 + len(MEASURES) + 1
    with pytest.raises(ValueError, match="appears twice"):
        record({"fgsm": {"error_rate": 0.1}}, fgsm_error_rate=0.2)
