"""Choosing samples: class-stratified draws."""

import numpy as np
import pytest

from spikedeploy.data.sampling import choose_samples, stratified_indices
from spikedeploy.errors import ConfigError


def test_samples_are_spread_over_the_classes():
    labels = np.repeat(np.arange(4), 10)            # sorted by class, as many files are
    idx = choose_samples(labels, 8)
    assert idx.tolist() == sorted(idx.tolist()) and np.bincount(labels[idx]).tolist() == [2, 2, 2, 2]
    assert choose_samples(labels, None).tolist() == list(range(40))
    assert choose_samples(labels, 99).size == 40
    with pytest.raises(ConfigError):
        choose_samples(labels, 0)


def test_stratified_indices_interleave_the_classes_and_follow_the_seed():
    labels = np.repeat(np.arange(3), [5, 3, 8])
    idx = stratified_indices(labels, 6, seed=1)
    assert np.bincount(labels[idx], minlength=3).tolist() == [2, 2, 2]
    assert idx.tolist() == sorted(idx.tolist())
    assert idx.tolist() == stratified_indices(labels, 6, seed=1).tolist()
    assert stratified_indices(labels, 100).tolist() == list(range(16))

