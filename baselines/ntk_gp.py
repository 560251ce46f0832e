"""A Gaussian process whose kernel is the empirical neural tangent kernel of a small MLP.

ZOPO (Hu et al., NeurIPS 2024) fits such a GP to the prompts queried so far
and follows the gradient of its posterior mean. The kernel of two inputs is
the inner product of the MLP's parameter gradients at its random
initialisation, k(x, x') = <d f(x)/d theta, d f(x')/d theta>; the network is
never trained. Jacobians come from torch.func, the posterior from
torch.linalg (Cholesky), the mean's input gradient from autograd through both.

Conventions (each a choice, see the method's docstring in baselines/zopo.py):
- observations are standardised (zero mean, unit std) before the fit and the
  posterior mean is returned in the original units;
- the noise variance is relative to the kernel's scale: noise * mean(diag K);
- `relative_variance` is the posterior variance divided by the prior variance
  k(x, x), a number in [0, 1] that a threshold can be set on for any
  embedding and network size.
Everything runs in float64 on the CPU (a few dozen points; exact and stable).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def make_mlp(in_dim: int, width: int, depth: int, activation: str,
             generator: torch.Generator) -> nn.Module:
    """`depth` hidden layers of `width` units and one output, NTK-style init
    (standard normal weights scaled by 1/sqrt(fan_in)) drawn from `generator`."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers, fan_in = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), ACTIVATIONS[activation]()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 1))
    net = nn.Sequential(*layers).double()
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                scale = layer.in_features ** -0.5
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator,
                                               dtype=torch.float64) * scale)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator,
                                             dtype=torch.float64) * 0.1)
    return net


class NTKGP:
    """GP regression with the empirical NTK of `net` as its kernel."""

    def __init__(self, net: nn.Module, noise: float = 1e-4):
        if noise <= 0:
            raise ValueError("noise must be > 0 (it keeps the kernel matrix invertible)")
        self.net, self.noise = net, noise
        self.params = {k: v.detach() for k, v in net.named_parameters()}
        self._x = None

    # -- kernel ---------------------------------------------------------------
    def _output(self, params, x):
        return functional_call(self.net, params, (x[None],))[0, 0]

    def _jacobian_row(self, x: torch.Tensor) -> torch.Tensor:
        """d f(x) / d theta, flattened: [P]. Differentiable in x (for the mean's gradient)."""
        jac = jacrev(self._output)(self.params, x)
        return torch.cat([j.reshape(-1) for j in jac.values()])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Parameter gradients of many inputs [n, d] -> [n, P]; k(x, x') is their inner product."""
        return vmap(self._jacobian_row)(x.double())

    # -- fit and posterior ----------------------------------------------------
    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "NTKGP":
        x, y = x.double(), y.double()
        self._x = x
        self._y_mean = y.mean()
        std = y.std(unbiased=False) if len(y) > 1 else torch.tensor(0.0, dtype=torch.float64)
        self._y_std = std if std > 0 else torch.tensor(1.0, dtype=torch.float64)
        self._feats = self.features(x)                       # [n, P]
        gram = self._feats @ self._feats.T
        self._jitter = self.noise * gram.diagonal().mean()
        self._chol = torch.linalg.cholesky(gram + self._jitter * torch.eye(len(x), dtype=gram.dtype))
        z = ((y - self._y_mean) / self._y_std)[:, None]
        self._alpha = torch.cholesky_solve(z, self._chol)    # (K + s^2 I)^-1 z, [n, 1]
        # The posterior mean is linear in f's parameter gradient: mu(x) = phi(x) . w.
        self._weights = (self._feats.T @ self._alpha)[:, 0]  # [P]
        return self

    def _check_fitted(self):
        if self._x is None:
            raise RuntimeError("fit the GP before asking for its posterior")

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean at inputs [n, d], in the units of the observations: [n]."""
        self._check_fitted()
        return self._y_mean + self._y_std * (self.features(x) @ self._weights)

    def variance(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior variance at inputs [n, d] in standardised units (prior k(x, x)): [n]."""
        self._check_fitted()
        feats = self.features(x)
        cross = feats @ self._feats.T                                  # [n, m]
        v = torch.linalg.solve_triangular(self._chol, cross.T, upper=False)   # L^-1 k(X, x)
        prior = (feats * feats).sum(1)
        return (prior - (v * v).sum(0)).clamp(min=0.0)

    def relative_variance(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior / prior variance at inputs [n, d], in [0, 1]: [n]."""
        prior = (self.features(x) ** 2).sum(1)
        return self.variance(x) / prior.clamp(min=torch.finfo(torch.float64).tiny)

    def mean_gradient(self, x: torch.Tensor) -> torch.Tensor:
        """d mu / d x at one input [d] (autograd through the kernel): [d]."""
        self._check_fitted()
        weights = self._weights

        def standardised_mean(point):
            return self._jacobian_row(point) @ weights

        return self._y_std * grad(standardised_mean)(x.double())
