"""The three methods compared in the paper. They differ only in the task input and the prior."""

from __future__ import annotations

from optprior.models.base import BaseModel
from optprior.priors import OptimalPrior, Prior


class VAE(BaseModel):
    """Plain VAE: the task index is not an input; prior N(0, I). ``s`` may be omitted."""

    conditional = False


class CVAE(BaseModel):
    """Conditional VAE: s (one-hot) into encoder and decoder; prior N(0, I)."""

    conditional = True


class OptimalPriorCVAE(BaseModel):
    """The paper's method: a CVAE whose prior is the aggregated posterior q(z),
    N(z; 0, I) exp(T(z)) with T a density-ratio discriminator.

    With a single task it is the implicit-optimal-prior VAE.
    """

    conditional = True

    def make_prior(self) -> Prior:
        c = self.config
        return OptimalPrior(
            c.latent_dim, c.discriminator_hidden_sizes, c.activation, c.discriminator_dropout
        )


METHODS: dict[str, type[BaseModel]] = {
    "vae": VAE,
    "cvae": CVAE,
    "optimal": OptimalPriorCVAE,
}
