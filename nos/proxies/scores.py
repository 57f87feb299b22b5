"""Zero-cost proxy scores: one number per network at initialisation, higher = predicted better.

Every score function takes a freshly built (or copied) network that it may modify, one
training minibatch ``(x, y)`` and returns a float. BN is handled as in each original paper:

=============  ============================================================================
``naswot``     Mellor et al. 2021: log|det K|, K[i, j] = number of ReLU units on which images
               i and j agree (both active or both inactive), summed over every ReLU, ReLU6
               and Hardswish module (unit active = output > 0). BN in train mode.
``synflow``    Tanaka et al. 2020 / Abdelfattah et al. 2021: sum |w * dR/dw| over conv and
               linear weights, R = sum of the outputs for an all-ones input, |weights|,
               float64, BN removed (identity), eval mode. Data-free. ReLU6 is replaced by
               ReLU: with positive weights every ReLU6 saturates at 6 and the score would be
               the same for every ReLU6 network.
``snip``       Lee et al. 2019: sum |w * dL/dw| over conv/linear weights, cross-entropy L.
``grad_norm``  Abdelfattah et al. 2021: sum over conv/linear layers of ||dL/dw||_2.
``jacob_cov``  Mellor et al. 2020 (v1): -sum(log(v + k) + 1/(v + k)), v the eigenvalues of
               the correlation matrix of the per-image input Jacobians, k = 1e-5.
``zico``       Li et al. 2023: sum over conv/linear layers of log(sum mean|g| / std(g)),
               gradient statistics over the two halves of the minibatch.
``meco``       Jiang et al. 2023: sum over conv layers of the minimum eigenvalue of the
               channel-by-channel Pearson correlation of the first image's feature map.
``zen``        Lin et al. 2021: log E||f(x) - f(x + 0.01 e)||_1 + sum over BN of
               log sqrt(mean batch variance), f = features before global pooling, Gaussian
               weights and Gaussian inputs (data-free).
``params``     parameter count.
``flops``      multiply-accumulates for one image at the proxy resolution.
=============  ============================================================================

Gradient scores (snip, grad_norm, jacob_cov, zico) use BN in train mode (batch
statistics) as the reference implementations do; parameters without gradient (an unused
conv) are skipped. Dropout is disabled everywhere so a score depends on the weights and
the batch only.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

CODE_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish)  # naswot reads their on/off codes
BATCH_NORM = nn.modules.batchnorm._BatchNorm  # BatchNorm1d/2d/3d
WEIGHTED = (nn.Conv2d, nn.Linear)
JACOB_COV_K = 1e-5
ZEN_MIXUP = 1e-2


def prepare(model: nn.Module) -> nn.Module:
    """Train mode (BN on batch statistics) with dropout off."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    return model


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    """Conv/linear layers whose weight received a gradient (unused layers skipped)."""
    return [m for m in model.modules() if isinstance(m, WEIGHTED) and m.weight.grad is not None]


def _loss_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def _forward_with_hooks(model: nn.Module, x: torch.Tensor, types: tuple[type, ...] | type, hook: Callable) -> None:
    """``model(x)`` without autograd, with forward ``hook`` on every module of ``types``."""
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, types)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """log|det K| of the binary activation-code kernel over the batch (see module doc)."""
    n = len(x)
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(_module, _inputs, output):
        code = (output.detach().reshape(n, -1) > 0).double()
        kernel.add_(code @ code.T + (1 - code) @ (1 - code).T)

    if not any(isinstance(m, CODE_ACTIVATIONS) for m in model.modules()):
        raise ValueError("naswot: the model has no ReLU, ReLU6 or Hardswish module to hook")
    _forward_with_hooks(prepare(model), x, CODE_ACTIVATIONS, hook)
    return torch.linalg.slogdet(kernel).logabsdet.item()


def _replace_modules(model: nn.Module, make: Callable[[nn.Module], nn.Module | None]) -> None:
    """Replace every submodule ``m`` for which ``make(m)`` returns a module."""
    for name, child in list(model.named_children()):
        new = make(child)
        if new is not None:
            setattr(model, name, new)
        else:
            _replace_modules(child, make)


def _synflow_module(m: nn.Module) -> nn.Module | None:
    if isinstance(m, BATCH_NORM):
        return nn.Identity()
    if isinstance(m, nn.ReLU6):
        return nn.ReLU()
    return None


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Synaptic flow of the sign-linearised, BN-free network on an all-ones input (data-free)."""
    _replace_modules(model, _synflow_module)
    model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    model(torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float64)).sum().backward()
    total = sum((m.weight * m.weight.grad).abs().sum().item() for m in _weighted_layers(model))
    if not math.isfinite(total):
        raise ValueError("synflow: the score overflows float64 for this network")
    return total


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity sum |w * dL/dw| over conv/linear weights."""
    _loss_backward(prepare(model), x, y)
    return sum((m.weight * m.weight.grad).abs().sum().item() for m in _weighted_layers(model))


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over conv/linear layers of the Euclidean norm of the loss gradient."""
    _loss_backward(prepare(model), x, y)
    return sum(m.weight.grad.norm().item() for m in _weighted_layers(model))


def jacob_cov(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Eigenvalue score of the correlation between the images' input Jacobians."""
    x = x.clone().requires_grad_(True)
    out = prepare(model)(x)
    out.backward(torch.ones_like(out))
    jacobians = x.grad.reshape(len(x), -1).double()
    corr = torch.nan_to_num(torch.corrcoef(jacobians))
    v = torch.linalg.eigvalsh(corr).clamp_min(0)
    return -torch.sum(torch.log(v + JACOB_COV_K) + 1.0 / (v + JACOB_COV_K)).item()


def zico(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Inverse coefficient of variation of the gradients over the two batch halves."""
    prepare(model)
    half = len(x) // 2
    if half < 1:
        raise ValueError(f"batch_size: zico needs at least 2 images, got {len(x)}")
    grads: dict[nn.Module, list[torch.Tensor]] = {}
    for part in (slice(0, half), slice(half, 2 * half)):
        _loss_backward(model, x[part], y[part])
        for m in _weighted_layers(model):
            grads.setdefault(m, []).append(m.weight.grad.detach().reshape(-1).double().clone())
    total = 0.0
    for g in grads.values():
        g = torch.stack(g)
        std = (g - g.mean(dim=0)).square().mean(dim=0).sqrt()  # population std; faster than Tensor.std here
        nonzero = std != 0
        ratio = (g.abs().mean(dim=0)[nonzero] / std[nonzero]).sum().item()
        if ratio > 0:
            total += math.log(ratio)
    return total


def meco(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over conv layers of the least eigenvalue of the first image's channel correlation.

    A layer whose map has fewer spatial positions than channels + 1 has a singular
    correlation matrix (rank <= positions - 1) and adds exactly 0; its eigenvalues are not
    computed.
    """
    minima: list[float] = []

    def hook(_module, _inputs, output):
        feature = output[0].detach().reshape(output.shape[1], -1).double()
        channels, positions = feature.shape
        if positions - 1 < channels:
            return
        corr = torch.nan_to_num(torch.corrcoef(feature), nan=0.0, posinf=0.0, neginf=0.0)
        minima.append(torch.linalg.eigvalsh(corr)[0].item())

    _forward_with_hooks(prepare(model), x, nn.Conv2d, hook)
    return float(sum(minima))


def _pre_pool_features(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function returning the input of the model's last global-pooling module."""
    pools = [m for m in model.modules() if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))]
    if not pools:
        raise ValueError("zen: the model has no AdaptiveAvgPool2d before its classifier to take features from")
    captured: list[torch.Tensor] = []

    def features(x: torch.Tensor) -> torch.Tensor:
        handle = pools[-1].register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0]))
        try:
            model(x)
        finally:
            handle.remove()
        return captured.pop()

    return features


def zen(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Zen-score with Gaussian weights and Gaussian inputs of the batch's shape (data-free)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, WEIGHTED):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, BATCH_NORM):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.momentum = 1.0  # running_var := the batch variance of the last forward
        features = _pre_pool_features(prepare(model))
        noise = torch.randn_like(x)
        mixed = features(noise + ZEN_MIXUP * torch.randn_like(x))
        clean = features(noise)  # last forward: BN running_var holds its batch variance
        gap = (clean - mixed).abs().sum(dim=(1, 2, 3)).mean()
        bn_scale = sum(torch.log(torch.sqrt(m.running_var.mean())).item()
                       for m in model.modules() if isinstance(m, BATCH_NORM))
    return math.log(gap.item()) + bn_scale


def params(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Number of parameters (all of them, unused convs included)."""
    return float(sum(p.numel() for p in model.parameters()))


def flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Conv + linear multiply-accumulates for one image of the batch's resolution."""
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        per_output = module.weight[0].numel()  # (cin / groups) * kh * kw, or in_features
        total += output[0].numel() * per_output

    _forward_with_hooks(model.eval(), x[:1], WEIGHTED, hook)
    return float(total)


SCORES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "naswot": naswot,
    "synflow": synflow,
    "snip": snip,
    "grad_norm": grad_norm,
    "jacob_cov": jacob_cov,
    "zico": zico,
    "meco": meco,
    "zen": zen,
    "params": params,
    "flops": flops,
}
