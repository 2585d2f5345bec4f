"""The pure ``nn.Module`` behind every method: encoder, decoder and prior, with the terms
of the bound; fitting lives in ``optprior.training``, the estimators in ``optprior.models``."""

from optprior.module.vae import ObjectiveTerms, VAEModule

__all__ = ["ObjectiveTerms", "VAEModule"]
