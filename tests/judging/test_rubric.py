"""Rubric validation: weights are a weighted mean or a config error."""

from __future__ import annotations

import math

import pytest

from common.errors import InputError
from judging.rubric import Rubric
from tests.helpers import ROOT


def test_default_is_the_support_desk_study():
    rubric = Rubric()
    assert rubric.weights == {"relevance": 0.45, "grammar": 0.20, "structure": 0.20, "style": 0.15}
    assert rubric.overall({"relevance": 5, "grammar": 1, "structure": 1, "style": 1}) == pytest.approx(2.8)
    assert math.isnan(rubric.overall({"relevance": 5, "grammar": 1, "structure": 1}))


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"relevance": 0.5, "style": 0.4}, "sum to 1"),
        ({}, "no criteria"),
        ({"a": 1.2, "b": -0.2}, "positive"),
    ],
)
def test_bad_weights_are_config_errors(weights, message):
    with pytest.raises(InputError, match=message):
        Rubric(weights=weights)


def test_from_file(tmp_path):
    good = tmp_path / "rubric.yaml"
    good.write_text("version: mine-v3\nweights: {relevance: 0.6, style: 0.4}\n")
    rubric = Rubric.from_file(good)
    assert rubric.version == "mine-v3" and rubric.criteria == ["relevance", "style"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: x\nweights: {relevance: 0.6, style: 0.6}\n")
    with pytest.raises(InputError) as err:
        Rubric.from_file(bad)
    assert str(bad) in str(err.value) and "weights" in str(err.value) and "\n" not in str(err.value)


def test_version_and_weights_change_the_fingerprint():
    assert Rubric().fingerprint() != Rubric(version="support-desk-v2").fingerprint()
    other = Rubric(weights={"relevance": 0.40, "grammar": 0.25, "structure": 0.20, "style": 0.15})
    assert Rubric().fingerprint() != other.fingerprint()


def test_settings_import_does_not_pull_litellm():
    import subprocess
    import sys

    code = "import sys, judging.settings; print('litellm' in sys.modules)"
    root = ROOT
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
