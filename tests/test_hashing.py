"""Digests that decide whether stored Loihi integers are stale."""

import numpy as np

from spikedeploy.hashing import array_digest


def test_array_digest_is_the_float32_values_and_shape():
    a = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    assert array_digest(a) == array_digest(a.astype(np.float32)) == array_digest(np.asfortranarray(a))
    assert array_digest(a) != array_digest(a.reshape(3, 2))
    b = a.copy()
    b[1, 2] = np.nextafter(np.float32(b[1, 2]), np.float32(1), dtype=np.float32)
    assert array_digest(a) != array_digest(b)


def test_negative_zero_counts_as_zero():
    # a converted readout bias of -b with b = 0 is -0.0; a file round trip may drop the sign
    assert array_digest(np.array([-0.0, 1.0])) == array_digest(np.array([0.0, 1.0]))
