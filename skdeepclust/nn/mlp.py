"""Multi-layer perceptrons and the (optionally tied) symmetric autoencoder."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "MLP", "AutoEncoderModule", "TiedLinear", "make_activation"]


class _Sine(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


#: Activation registry: name -> module factory.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "sine": _Sine,
}


def make_activation(name: str) -> nn.Module:
    """Instantiate an activation by name (see :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r}; valid options are {sorted(ACTIVATIONS)}."
        ) from None


def _init_linear(layer: nn.Linear) -> None:
    """Fan-in uniform weights (Keras' VarianceScaling(1/3, fan_in, uniform)), zero bias.

    This is the initialisation with which DEC-keras reaches its published MNIST accuracy.
    """
    bound = 1.0 / math.sqrt(layer.in_features)
    nn.init.uniform_(layer.weight, -bound, bound)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class MLP(nn.Sequential):
    """A plain feed-forward network from ``sizes[0]`` to ``sizes[-1]`` features.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first; at least two entries.
    activation : str, default="relu"
        Between hidden layers.
    output_activation : str, default="identity"
        After the last layer.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.mlp import MLP
    >>> MLP([4, 8, 2])(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        output_activation: str = "identity",
        dropout: float = 0.0,
    ) -> None:
        sizes = [int(s) for s in sizes]
        assert len(sizes) >= 2, "'sizes' needs an input and an output width."
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = nn.Linear(a, b)
            _init_linear(linear)
            layers.append(linear)
            last = i == len(sizes) - 2
            layers.append(make_activation(output_activation if last else activation))
            if dropout > 0 and not last:
                layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.sizes = tuple(sizes)

    @property
    def linears(self) -> list[nn.Linear]:
        """The affine layers, input first."""
        return [m for m in self if isinstance(m, nn.Linear)]


class TiedLinear(nn.Module):
    """A linear layer whose weight is the transpose of another layer's (own bias)."""

    def __init__(self, tied_to: nn.Linear) -> None:
        super().__init__()
        self.tied_to = [tied_to]  # a list, so the weight is not registered twice
        self.bias = nn.Parameter(torch.zeros(tied_to.in_features))

    @property
    def weight(self) -> Tensor:
        return self.tied_to[0].weight.t()

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


class _TiedDecoder(nn.Module):
    def __init__(self, encoder: MLP, activation: str, output_activation: str) -> None:
        super().__init__()
        linears = encoder.linears[::-1]
        self.layers = nn.ModuleList([TiedLinear(lin) for lin in linears])
        self.acts = nn.ModuleList(
            [
                make_activation(output_activation if i == len(linears) - 1 else activation)
                for i in range(len(linears))
            ]
        )

    def forward(self, z: Tensor) -> Tensor:
        for layer, act in zip(self.layers, self.acts):
            z = act(layer(z))
        return z


class AutoEncoderModule(nn.Module):
    """Symmetric autoencoder: an MLP encoder to ``n_components`` codes and its mirror image.

    Parameters
    ----------
    n_features : int
    hidden_layer_sizes : sequence of int
        Encoder hidden widths; the decoder mirrors them.
    n_components : int
        Code size.
    activation : str, default="relu"
        Hidden activations of encoder and decoder.
    code_activation : str, default="identity"
        Activation of the code layer.
    output_activation : str, default="identity"
        Activation of the reconstruction (``"sigmoid"`` for data in [0, 1]).
    tied_weights : bool, default=False
        Decoder weights are the transposed encoder weights (own biases).

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.mlp import AutoEncoderModule
    >>> ae = AutoEncoderModule(6, (5,), 2)
    >>> ae.encode(torch.zeros(3, 6)).shape, ae(torch.zeros(3, 6)).shape
    (torch.Size([3, 2]), torch.Size([3, 6]))
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: Sequence[int],
        n_components: int,
        activation: str = "relu",
        code_activation: str = "identity",
        output_activation: str = "identity",
        tied_weights: bool = False,
    ) -> None:
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes, n_components]
        self.encoder = MLP(sizes, activation, code_activation)
        if tied_weights:
            self.decoder = _TiedDecoder(self.encoder, activation, output_activation)
        else:
            self.decoder = MLP(sizes[::-1], activation, output_activation)
        self.n_features = int(n_features)
        self.n_components = int(n_components)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))
