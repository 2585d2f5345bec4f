"""The optimal prior: the aggregated posterior q(z), through a density-ratio discriminator.

A classifier T(z) (logit) is trained by logistic regression to tell encoded z ~ q(z)
(label 1) from z ~ N(0, I) (label 0), in equal numbers. At its optimum
T(z) = ln q(z) / N(z; 0, I), so the implicit prior is N(z; 0, I) exp(T(z)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn
from torch.distributions import Categorical, Distribution, MixtureSameFamily, MultivariateNormal
from torch.nn import functional as F

from optprior._random import seeded_torch
from optprior._validation import one_of
from optprior.nn.encoder import kl_to_standard_normal, standard_normal_log_prob
from optprior.nn.mlp import MLP
from optprior.priors.base import Prior
from optprior.priors.mixture import mixture_draws
from optprior.priors.normalizer import (
    NormalizerEstimate,
    annealed_log_normalizer,
    from_log_weights,
)

#: Draws of T per forward pass while Z is estimated.
NORMALIZER_CHUNK = 10_000
#: The share of N(0, I) in ``code_proposal``.
NORMAL_SHARE = 0.1
#: Samplers that estimate Z (``OptimalPrior.normalizer_from_posteriors``), the default
#: first.
NORMALIZER_SAMPLERS = ("annealed", "importance")
#: Chains of the annealed estimate of Z from the training codes, and its temperatures
#: unless told otherwise.
ANNEALING_CHAINS, ANNEALING_TEMPERATURES = 500, 1000
#: Draws of the importance-sampled estimate of Z from the training codes.
IMPORTANCE_DRAWS = 100_000


def check_sampler(sampler: str) -> None:
    """ValueError unless ``sampler`` is one of ``NORMALIZER_SAMPLERS``."""
    one_of(sampler, "sampler", NORMALIZER_SAMPLERS)


def posterior_codes(
    mu: torch.Tensor, logvar: torch.Tensor, log_weights: torch.Tensor, seed: int = 0
) -> torch.Tensor:
    """One code per posterior (N, D) drawn from their mixture with weights ln w (N,), from
    a generator seeded with ``seed``: the sample the estimators of Z start from."""
    generator = torch.Generator(device=mu.device).manual_seed(seed)
    return mixture_draws(mu, logvar, log_weights, mu.shape[0], generator)[0]


def code_proposal(codes: torch.Tensor, normal_share: float = NORMAL_SHARE) -> MixtureSameFamily:
    """The importance-sampling proposal of Z (float64): N(0, I) with weight
    ``normal_share``, and the Gaussian of the mean and covariance of ``codes`` (M, D)
    (plus 1e-6 I) with the rest. The Gaussian follows the aggregated posterior, N e^T's
    target, with tails as broad as its spread; the N(0, I) share keeps every importance
    weight N e^T / r below e^T / ``normal_share``, so the estimate has finite variance
    wherever T is bounded."""
    codes = codes.to(torch.float64)
    eye = torch.eye(codes.shape[1], dtype=codes.dtype, device=codes.device)
    spread = torch.cov(codes.T).reshape(eye.shape)
    scale = torch.linalg.cholesky(spread + 1e-6 * eye)
    return with_normal_share(codes.mean(0)[None], scale[None], codes.new_ones(1), normal_share)


def with_normal_share(
    locations: torch.Tensor,
    scale_trils: torch.Tensor,
    weights: torch.Tensor,
    normal_share: float = NORMAL_SHARE,
) -> MixtureSameFamily:
    """N(0, I) with weight ``normal_share`` and, with the rest, the Gaussians of
    ``locations`` (K, D) and Cholesky factors ``scale_trils`` (K, D, D) in proportion to
    ``weights`` (K,): a defensive proposal (float64), whose N(0, I) share bounds every
    importance weight of Z by e^T / ``normal_share``."""
    locations = locations.to(torch.float64)
    eye = torch.eye(locations.shape[1], dtype=locations.dtype, device=locations.device)
    locations = torch.cat([torch.zeros_like(eye[:1]), locations])
    scales = torch.cat([eye[None], scale_trils.to(locations)])
    weights = weights.to(locations)
    shares = torch.cat(
        [weights.new_tensor([normal_share]), (1 - normal_share) * weights / weights.sum()]
    )
    return MixtureSameFamily(
        Categorical(probs=shares), MultivariateNormal(locations, scale_tril=scales)
    )


def draw(proposal: Distribution, n: int) -> torch.Tensor:
    """``n`` draws of ``proposal`` (n, D). A mixture of full-covariance Gaussians (what
    ``with_normal_share`` builds) is drawn component by component: torch's
    ``MixtureSameFamily.sample`` draws every component for every draw through an
    (n, K, D, D) product, many times slower at D = 40 (``benchmarks/proposal_draws.py``)."""
    gaussians = getattr(proposal, "component_distribution", None)
    if (
        not isinstance(proposal, MixtureSameFamily)
        or proposal.batch_shape != ()  # a batch of mixtures: torch's own sample
        or not isinstance(gaussians, MultivariateNormal)
    ):
        return proposal.sample((n,))
    which = proposal.mixture_distribution.sample((n,))
    noise = torch.randn(n, gaussians.event_shape[0], dtype=gaussians.loc.dtype, device=which.device)
    z = torch.empty_like(noise)
    for k in which.unique().tolist():
        chosen = which == k
        z[chosen] = gaussians.loc[k] + noise[chosen] @ gaussians.scale_tril[k].T
    return z


class OptimalPrior(Prior):
    """p(z) = N(z; 0, I) exp(T(z)), with T an MLP discriminator (log density ratio).

    ``dropout`` acts while T is trained, after every hidden layer or, with
    ``dropout_last_only``, only before the output layer.
    """

    has_discriminator = True

    def __init__(
        self,
        latent_dim: int,
        hidden_sizes: Sequence[int] = (256, 256),
        activation: str = "tanh",
        dropout: float = 0.2,
        sir_pool: int = 64,
        dropout_last_only: bool = False,
    ) -> None:
        super().__init__(latent_dim)
        self.discriminator = MLP(
            latent_dim,
            1,
            hidden_sizes,
            activation,
            dropout=dropout,
            dropout_last_only=dropout_last_only,
        )
        self.sir_pool = sir_pool
        # Start at T == 0, i.e. the prior starts as N(0, I) and the model as a CVAE.
        body = self.discriminator.body  # ends with a Linear layer unless it is empty
        final = cast(nn.Linear, body[-1]) if len(body) else self.discriminator.input.linear
        torch.nn.init.zeros_(final.weight)
        torch.nn.init.zeros_(final.bias)

    def elbo_parameters(self) -> list[nn.Parameter]:
        """None: T is fitted by logistic regression (``training.density_ratio``), not by
        the ELBO, which would push T up without bound."""
        return []

    def log_ratio(self, z: torch.Tensor) -> torch.Tensor:
        """T(z) ~= ln q(z) / N(z; 0, I): (..., D) -> (...)."""
        return self.discriminator(z).squeeze(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return standard_normal_log_prob(z) + self.log_ratio(z)

    def kl(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || N(z; 0, I) e^T) per point = KL(q || N(0, I)) - E_q[T(z)], (B,).

        The first term in closed form, the second at the drawn ``z`` (..., B, D): the same
        expectation as the one-sample estimate of ln q - ln N - T, with less variance.
        """
        return kl_to_standard_normal(mu, logvar) - self.log_ratio(z).reshape(-1, mu.shape[0]).mean(
            0
        )

    @torch.no_grad()
    def normalizer_estimate(
        self, n_samples: int = 100_000, seed: int = 0, codes: torch.Tensor | None = None
    ) -> NormalizerEstimate:
        """Z = integral of N(z; 0, I) e^T(z) dz by importance sampling: the mean of
        N(z; 0, I) e^T(z) / r(z) over ``n_samples`` draws z ~ r, in nats, and the draws'
        effective number (Kish).

        Z is 1 when T is the exact log ratio ln q(z)/N(z; 0, I); ln Z != 0 measures how far
        the learned prior is from a normalised density (a calibration check of T). Without
        ``codes`` r is N(0, I), so Z = E_N[e^T]: unbiased, but once q(z) is far from
        N(0, I) a handful of draws carry the mean and ln Z comes out low or far off. With
        ``codes`` (M, D), draws from the aggregated posterior T was fitted to, r is
        ``code_proposal``: close to N e^T where T is calibrated, so far more draws count
        (``tests/test_discriminator.py``: an exact T of a narrow q). T is put in eval
        mode (no dropout), as for every score; the draws come from torch seeded with
        ``seed``, the caller's random state left alone.
        """
        return self.normalizer_with(self.start_distribution(codes), n_samples, seed)

    def start_distribution(self, codes: torch.Tensor | None = None) -> Distribution:
        """Where both estimators of Z draw from (float64, on this prior's device): N(0, I),
        or with ``codes`` (M >= 2, D) ``code_proposal``; ValueError for codes of another
        shape."""
        device = self.device()
        if codes is None:
            zero = torch.zeros(self.latent_dim, dtype=torch.float64, device=device)
            return MultivariateNormal(zero, scale_tril=torch.diag(zero + 1))
        if codes.ndim != 2 or codes.shape[1] != self.latent_dim or codes.shape[0] < 2:
            raise ValueError(f"codes must be (M >= 2, {self.latent_dim}), got {tuple(codes.shape)}")
        return code_proposal(codes.to(device))

    @torch.no_grad()
    def normalizer_with(
        self, proposal: torch.distributions.Distribution, n_samples: int = 100_000, seed: int = 0
    ) -> NormalizerEstimate:
        """``normalizer_estimate`` with the proposal r given (a float64 distribution on
        this prior's device), e.g. to compare proposals
        (``benchmarks/normalizer_proposals.py``)."""
        self.eval()
        with seeded_torch(seed, self.device()):
            parts = []
            for start in range(0, n_samples, NORMALIZER_CHUNK):
                z = draw(proposal, min(NORMALIZER_CHUNK, n_samples - start))
                t = self.log_ratio(z.to(self.discriminator.input.linear.weight.dtype))
                t = t.to(z.dtype)
                parts.append(standard_normal_log_prob(z) + t - proposal.log_prob(z))
        return from_log_weights(torch.cat(parts))

    def normalizer_annealed(
        self,
        n_chains: int = ANNEALING_CHAINS,
        n_temperatures: int = ANNEALING_TEMPERATURES,
        seed: int = 0,
        codes: torch.Tensor | None = None,
    ) -> NormalizerEstimate:
        """Z by annealed importance sampling to N(0, I) e^T
        (``priors.normalizer.annealed_log_normalizer``): ln Z (nats) and the chains'
        effective number. The chains start from N(0, I), or with ``codes`` (M, D) from
        ``code_proposal``, nearer the target. It needs no proposal close to N e^T, so it
        holds where importance sampling leaves a handful of draws (a T far from
        calibrated); T is put in eval mode (no dropout), as for every score."""
        self.eval()
        dtype = self.discriminator.input.linear.weight.dtype

        def log_target(z: torch.Tensor) -> torch.Tensor:
            return standard_normal_log_prob(z) + self.log_ratio(z.to(dtype)).to(z.dtype)

        base = self.start_distribution(codes)
        return annealed_log_normalizer(log_target, base, n_chains, n_temperatures, seed)

    def normalizer_from_posteriors(
        self,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        log_weights: torch.Tensor,
        seed: int = 0,
        sampler: str = "annealed",
        n_temperatures: int = ANNEALING_TEMPERATURES,
    ) -> NormalizerEstimate:
        """Z with the proposal, or the chains' start, fitted to one code drawn from the
        mixture of the posteriors (N, D) with weights ln w (N,) (the aggregated posterior T
        was fitted to: the training points' posteriors, weighted as in T's loss).
        ``sampler``: ``"annealed"`` (``normalizer_annealed``, ``ANNEALING_CHAINS``
        chains, ``n_temperatures`` temperatures) or ``"importance"``
        (``normalizer_estimate``, ``IMPORTANCE_DRAWS`` draws)."""
        check_sampler(sampler)
        codes = posterior_codes(mu, logvar, log_weights, seed)
        if sampler == "importance":
            return self.normalizer_estimate(IMPORTANCE_DRAWS, seed, codes)
        return self.normalizer_annealed(ANNEALING_CHAINS, n_temperatures, seed, codes)

    def log_normalizer(
        self, n_samples: int = 100_000, seed: int = 0, codes: torch.Tensor | None = None
    ) -> float:
        """ln Z (nats) of ``normalizer_estimate``."""
        return self.normalizer_estimate(n_samples, seed, codes).log_z

    def discriminator_loss(
        self,
        z_posterior: torch.Tensor,
        z_normal: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean logistic loss of T on ``z_posterior`` (B, D) against N(0, I) draws.

        ``z_normal`` (B, D): the N(0, I) draws (default: B fresh ones). ``weights`` (B,):
        per-point weights of the posterior draws (default 1), e.g. to balance tasks; at
        the optimum T is the log ratio of the weighted mixture. ``z_posterior`` should be
        detached from the encoder.
        """
        if z_normal is None:
            z_normal = torch.randn_like(z_posterior)
        logits = self.log_ratio(torch.cat([z_posterior, z_normal]))
        labels = torch.zeros_like(logits)
        labels[: z_posterior.shape[0]] = 1.0
        if weights is None:
            return F.binary_cross_entropy_with_logits(logits, labels)
        full = torch.ones_like(logits)
        full[: z_posterior.shape[0]] = weights
        return F.binary_cross_entropy_with_logits(logits, labels, weight=full)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """Sampling-importance-resampling: ``sir_pool`` N(0, I) candidates per draw,
        one kept with probability proportional to exp(T)."""
        candidates = torch.randn(n, self.sir_pool, self.latent_dim, device=self.device())
        weights = torch.softmax(self.log_ratio(candidates), dim=-1)
        pick = torch.multinomial(weights, 1).squeeze(-1)
        return candidates[torch.arange(n, device=candidates.device), pick]
