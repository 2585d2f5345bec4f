"""Neural building blocks: MLPs, the Gaussian encoder and the likelihood heads."""

from optprior.nn.decoders import BernoulliDecoder, Decoder, GaussianDecoder
from optprior.nn.encoder import GaussianEncoder
from optprior.nn.mlp import MLP, ConditionalInput

__all__ = [
    "MLP",
    "ConditionalInput",
    "GaussianEncoder",
    "Decoder",
    "BernoulliDecoder",
    "GaussianDecoder",
]
