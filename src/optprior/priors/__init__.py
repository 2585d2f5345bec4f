"""Priors p(z): the abstract interface, N(0, I), and the optimal (aggregated-posterior) prior."""

from optprior.priors.base import Prior
from optprior.priors.optimal import OptimalPrior
from optprior.priors.standard import StandardNormalPrior

__all__ = ["Prior", "StandardNormalPrior", "OptimalPrior"]
