"""Priors p(z): the abstract interface, N(0, I), and the optimal (aggregated-posterior)
prior through a density-ratio discriminator or as the exact mixture, and the VampPrior."""

from optprior.priors.base import Prior
from optprior.priors.mixture import MixturePrior
from optprior.priors.optimal import OptimalPrior
from optprior.priors.standard import StandardNormalPrior
from optprior.priors.vamp import VampPrior

__all__ = ["Prior", "StandardNormalPrior", "OptimalPrior", "MixturePrior", "VampPrior"]
