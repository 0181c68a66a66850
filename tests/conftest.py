import os
import random

import numpy as np
import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _seed():
    # Not keras.utils.set_random_seed: it imports TensorFlow, even on jax and torch.
    random.seed(0)
    np.random.seed(0)
    yield
