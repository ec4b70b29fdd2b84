"""Multi-layer perceptrons and the (optionally tied) symmetric autoencoder."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "AutoEncoderModule",
    "CenteredLinear",
    "TiedLinear",
    "make_activation",
]


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


def _centered_input(layer: nn.Module, x: Tensor) -> Tensor:
    """``x - offset`` for a centered layer, moving the offset first while it tracks.

    With ``layer.offset_rate = nu > 0`` the offset moves to ``(1 - nu) * o + nu * mean(x)``
    (the batch mean, without gradient) before it is used; with ``layer.offset_shift_bias``
    the bias is shifted by ``W (o_new - o)`` so that the layer computes the same function
    (PyDeep's ``update_offsets`` reparameterisation).
    """
    rate = layer.offset_rate
    if rate > 0:
        with torch.no_grad():
            new = (1 - rate) * layer.offset + rate * x.detach().mean(dim=0)
            if layer.offset_shift_bias and layer.bias is not None:
                layer.bias.add_(nn.functional.linear(new - layer.offset, layer.weight))
            layer.offset.copy_(new)
    return x - layer.offset


class CenteredLinear(nn.Linear):
    """A linear layer on centered input: ``y = (x - o) W^T + b``, the offset ``o`` a buffer.

    The centering trick of PyDeep's autoencoders and RBMs (Melchior et al., 2016): the
    function is that of a plain linear layer with bias ``b - W o``, but the gradient of
    ``W`` is taken at the centered input ``x - o``, which conditions it better when the
    inputs have a large mean (sigmoid units, images in [0, 1]). ``o`` is set and moved by
    :meth:`AutoEncoderModule.tracking_offsets`.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.register_buffer("offset", torch.zeros(in_features))
        self.offset_rate = 0.0
        self.offset_shift_bias = True

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(_centered_input(self, x), self.weight, self.bias)


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
    centered : bool, default=False
        Every affine layer is a :class:`CenteredLinear` (input offsets, zero until set).

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.autoencoder import MLP
    >>> MLP([4, 8, 2])(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        output_activation: str = "identity",
        dropout: float = 0.0,
        centered: bool = False,
    ) -> None:
        sizes = [int(s) for s in sizes]
        assert len(sizes) >= 2, "'sizes' needs an input and an output width."
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = CenteredLinear(a, b) if centered else nn.Linear(a, b)
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
    """A linear layer whose weight is the transpose of another layer's (own bias).

    With ``centered=True`` it has its own input offset, as :class:`CenteredLinear`.
    """

    def __init__(self, tied_to: nn.Linear, centered: bool = False) -> None:
        super().__init__()
        self.tied_to = [tied_to]  # a list, so the weight is not registered twice
        self.bias = nn.Parameter(torch.zeros(tied_to.in_features))
        self.centered = bool(centered)
        if centered:
            self.register_buffer("offset", torch.zeros(tied_to.out_features))
            self.offset_rate = 0.0
            self.offset_shift_bias = True

    @property
    def weight(self) -> Tensor:
        return self.tied_to[0].weight.t()

    def forward(self, x: Tensor) -> Tensor:
        if getattr(self, "centered", False):  # absent in models pickled before centering
            x = _centered_input(self, x)
        return nn.functional.linear(x, self.weight, self.bias)


class _TiedDecoder(nn.Module):
    def __init__(self, encoder: MLP, activation: str, output_activation: str) -> None:
        super().__init__()
        linears = encoder.linears[::-1]
        centered = isinstance(encoder.linears[0], CenteredLinear)
        self.layers = nn.ModuleList([TiedLinear(lin, centered) for lin in linears])
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
    centered : bool, default=False
        Every affine layer subtracts an offset from its input (PyDeep's centered
        autoencoder: ``h = f((x - mu) W + c)``, ``y = g((h - lambda) W^T + b)``); the
        offsets are buffers, set and moved with :meth:`tracking_offsets`.

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.autoencoder import AutoEncoderModule
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
        centered: bool = False,
    ) -> None:
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes, n_components]
        self.encoder = MLP(sizes, activation, code_activation, centered=centered)
        if tied_weights:
            self.decoder = _TiedDecoder(self.encoder, activation, output_activation)
        else:
            self.decoder = MLP(sizes[::-1], activation, output_activation, centered=centered)
        self.centered = bool(centered)
        self.n_features = int(n_features)
        self.n_components = int(n_components)

    def centered_layers(self) -> list[nn.Module]:
        """The layers with an input offset, in forward order (encoder, then decoder)."""
        layers = list(self.encoder.linears)
        layers += list(getattr(self.decoder, "layers", None) or self.decoder.linears)
        return [m for m in layers if hasattr(m, "offset")]

    @contextmanager
    def tracking_offsets(self, rate: float, shift_bias: bool = True) -> Iterator[None]:
        """Within the block, each forward pass moves every offset toward its input's mean.

        ``o <- (1 - rate) * o + rate * mean(input)`` on each batch, before the layer uses
        it; with ``shift_bias`` the bias is shifted so that the network's function is
        unchanged (PyDeep's moving offsets). ``rate=1, shift_bias=False`` sets the offsets
        to the batch means (the centered initialisation).
        """
        layers = self.centered_layers()
        for layer in layers:
            layer.offset_rate, layer.offset_shift_bias = float(rate), bool(shift_bias)
        try:
            yield
        finally:
            for layer in layers:
                layer.offset_rate, layer.offset_shift_bias = 0.0, True

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))
