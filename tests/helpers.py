"""Constants shared by the tests: fast model settings and where the staged data lie."""

import os
from pathlib import Path

#: Model settings small enough for unit tests.
FAST = {
    "latent_dim": 3,
    "hidden_sizes": (16,),
    "discriminator_hidden_sizes": (16,),
    "epochs": 3,
    "batch_size": 50,
    "progress": False,
}

REPO = Path(__file__).resolve().parents[1]
#: The staged real data: ``<repo>/../shared/data``, or $OPTPRIOR_DATA where set.
SHARED_DATA = Path(os.environ.get("OPTPRIOR_DATA") or REPO.parent / "shared" / "data")
