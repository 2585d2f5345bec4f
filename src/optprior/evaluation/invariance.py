"""Kernel measures of how much z depends on the task s: HSIC and MMD with a Gaussian kernel
of median-heuristic bandwidth, and their permutation tests. The same statistics serve as
training penalties (``optprior.training.penalties``).

With the task kernel L = [s_i = s_j], HSIC is a weighted MMD: HSIC = sum_k pi_k^2 MMD^2_k
(pi_k task k's share of the points, MMD^2_k its codes against all), where ``mmd`` is the
unweighted mean of the MMD^2_k. On tasks of equal size (the probe sets ``reproduce``
scores) HSIC = MMD^2 / K for the data and every relabelling: one measure on two scales,
whose two permutation p-values differ only by their draws. As penalties on unbalanced
batches they differ in how they weigh the tasks (HSIC by pi_k^2, MMD equally)."""

from __future__ import annotations

import torch

from optprior.evaluation.information import TensorOrArray


def gaussian_gram(z: torch.Tensor) -> torch.Tensor:
    """exp(-|z_i - z_j|^2 / m) for codes z (N, D): (N, N), with m the median of the
    pairwise squared distances (the median heuristic; taken without gradient). A single
    code has no pair, and its kernel with itself is 1 whatever m. The codes are centred
    first: |a|^2 + |b|^2 - 2 a.b loses the distances of codes far from the origin."""
    z = z - z.mean(0)
    squared = z.pow(2).sum(-1)
    distances = (squared[:, None] + squared[None, :] - 2.0 * z @ z.T).clamp_min(0.0)
    off_diagonal = ~torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    pairs = distances.detach()[off_diagonal]
    scale = pairs.median().clamp_min(1e-12) if pairs.numel() else distances.new_ones(())
    return torch.exp(-distances / scale)


def hsic(gram: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The biased HSIC estimate (1/N^2) tr(K H L H) between the codes of ``gram`` (N, N)
    and the tasks ``s`` (N,), L = [s_i = s_j], H the centring matrix: 0 when every task's
    codes are the same set, or with one task."""
    centred = gram - gram.mean(0, keepdim=True) - gram.mean(1, keepdim=True) + gram.mean()
    same_task = (s[:, None] == s[None, :]).to(gram.dtype)
    return (centred * same_task).sum() / s.numel() ** 2


def mmd(gram: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The mean over tasks of the biased MMD^2 between a task's codes and all codes, from
    their ``gram`` (N, N) and tasks ``s`` (N,): 0 when every task's codes are the same set."""
    whole = gram.mean()
    gaps = []
    for task in torch.unique(s):
        member = s == task
        gaps.append(gram[member][:, member].mean() + whole - 2.0 * gram[member].mean())
    return torch.stack(gaps).mean()


@torch.no_grad()
def kernel_dependence(
    z: TensorOrArray, s: TensorOrArray, permutations: int = 200, seed: int = 0
) -> dict[str, float]:
    """``task_hsic`` and ``task_mmd`` of codes z (N, D) and tasks s (N,), tensors or
    arrays, each with the p-value of a permutation test of independence (``_p``: the
    share of ``permutations`` random relabellings of s, plus the observed one, whose
    statistic is at least the observed; small means z depends on s)."""
    z, s = torch.as_tensor(z), torch.as_tensor(s)
    gram = gaussian_gram(z)
    generator = torch.Generator(device=z.device).manual_seed(seed)
    out = {}
    for name, statistic in (("task_hsic", hsic), ("task_mmd", mmd)):
        observed = float(statistic(gram, s))
        exceed = sum(
            float(statistic(gram, s[torch.randperm(len(s), generator=generator)])) >= observed
            for _ in range(permutations)
        )
        out[name] = observed
        out[f"{name}_p"] = (1 + exceed) / (1 + permutations)
    return out
