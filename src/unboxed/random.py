"""Local random generators: every random choice takes a seed, and no global state is touched."""
from __future__ import annotations

import numpy as np
import torch


def torch_generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with `seed`; None draws fresh entropy (results then differ run to run).

    >>> a, b = torch_generator(3), torch_generator(3)
    >>> bool(torch.equal(torch.rand(2, generator=a), torch.rand(2, generator=b)))
    True
    """
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(int(seed))
