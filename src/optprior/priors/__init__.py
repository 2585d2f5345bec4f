"""Priors p(z): the abstract interface, N(0, I), and the optimal (aggregated-posterior)
prior through a density-ratio discriminator or as the exact mixture."""

from optprior.priors.base import Prior
from optprior.priors.mixture import MixturePrior
from optprior.priors.optimal import OptimalPrior
from optprior.priors.standard import StandardNormalPrior

__all__ = ["Prior", "StandardNormalPrior", "OptimalPrior", "MixturePrior"]
