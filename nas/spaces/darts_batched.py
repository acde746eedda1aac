"""The DARTS search cell's forward pass with the edges that read one state batched.

The plain cell (`SearchCell.forward_plain`, pt.darts's) runs every candidate operation of every
edge on its own: a cell of 14 edges launches hundreds of small kernels, each with its own ReLU,
pooling and BatchNorm on the same input. This pass computes the same function from the same
parameters (the modules of `SearchCell.edges`, read at every call, so `functional_call` and a
`state_dict` work unchanged) with fewer, larger calls:

- The edges of a cell are taken state by state: as soon as a state exists, every edge that
  reads it is computed, and its output is added to its target node. (Node i reads states
  0 … i+1, so it is complete once state i+1's edges are in: the additions happen in the plain
  cell's order.)
- What does not depend on an edge's weights is computed once per state: the ReLU at the head of
  the convolutions (and of FactorizedReduce), each pooling with its weight-free BatchNorm, the
  identity. All edges that read a state have the same stride.
- The parametric operations of all edges that read a state run as one call per kind of layer:
  the first depthwise convolution of every separable and dilated convolution of those edges as
  grouped convolutions over C·(edges · operations) output channels (one call per kernel size and
  dilation, or one 5×5 call for every kernel that fits in 5×5, `merge_5x5`), the pointwise
  convolutions as one batched matrix product, the BatchNorms as one call over the concatenated
  channels (a BatchNorm without affine parameters normalises each channel on its own), and the
  same for the separable convolutions' second half and for FactorizedReduce's two 1×1
  convolutions.
- On the CPU the depthwise convolutions' backward (and double backward) is hand-written
  (`_Depthwise`): PyTorch's own is slow there for every kernel but 3×3 without dilation.
- The mixing by softmax(α) is a weighted sum over the edges' stacked outputs, operation by
  operation in the plain cell's order; `none` is skipped.
- Memory: the BatchNorms keep their output, not their input (`_BatchNorm`), and under create_graph
  their input gradient is one node whose own backward needs that gradient, not the incoming one
  (`_BatchNormInputGrad`: one activation-sized tensor fewer, in the graph that an exact
  Hessian-vector product's double backward runs through, per BatchNorm whose input gradient a
  pointwise convolution keeps anyway); the ReLU before a
  separable convolution's second depthwise convolution is inside it (`_Depthwise(relu=True)`
  keeps the BatchNorm output it reads); and depthwise outputs that the pointwise convolutions
  read are computed again in the backward instead of kept (`_RecomputedPointwise`), as
  `SearchCell.recompute` says: "separable" (the default: the separable convolutions' second
  ones, which cost little to recompute), "all" (every one: what `for_double_backward` sets for
  the exact Hessian-vector products, whose double backward keeps a larger graph alive; under
  create_graph the new graph does not keep them either) or "none". What one forward keeps for
  its backward, and what that costs, are in benchmark/README.md ("The batched cell").

Operations this module does not know (e.g. `conv_7x1_1x7`) run edge by edge as in the plain cell.
Outputs and gradients equal the plain cell's to float rounding (tests/test_darts_batched.py).
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from nas.ops import DilConv, FactorizedReduce, Identity, SepConv, Zero


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave `groups` equal channel groups (ShuffleNet): [a0 a1 b0 b1] → [a0 b0 a1 b1]."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def _conv(x, weight, conf):
    stride, padding, dilation = conf
    return F.conv2d(x, weight, None, stride, padding, dilation, groups=x.shape[1])


def _input_grad(grad, weight, conf, shape):
    """The gradient with respect to the input (of shape `shape`) of `_conv(·, weight)` given the
    output's gradient: the transposed convolution, as a forward one where the stride is 1."""
    stride, padding, dilation = conf
    n, c, h, w = shape
    m, k = weight.shape[0] // c, weight.shape[-1]   # m outputs per input channel
    if stride == 1 and dilation * (k - 1) >= padding:
        # each output channel's part as one depthwise convolution, then summed over the m outputs
        # of an input channel (a grouped convolution with m inputs per group was 2-3× slower)
        parts = F.conv2d(grad, weight.flip(-1, -2), None, 1, dilation * (k - 1) - padding,
                         dilation, groups=c * m)
        return parts if m == 1 else parts.view(n, c, m, h, w).sum(2)
    out_pad = [size - ((o - 1) * stride - 2 * padding + dilation * (k - 1) + 1)
               for size, o in zip((h, w), grad.shape[-2:])]
    return F.conv_transpose2d(grad, weight, None, stride, padding, out_pad, c, dilation)


def _weight_grad(x, grad, conf, k):
    """The gradient with respect to the k×k weight of `_conv(x, ·)` given the output's gradient:
    one grouped convolution of the padded input with the output gradient (N·C groups), summed
    over the batch."""
    stride, padding, dilation = conf
    n, c, h, w = x.shape
    m = grad.shape[1] // c
    ho, wo = grad.shape[-2:]
    xp = F.pad(x, (padding,) * 4).transpose(0, 1).reshape(1, c * n, h + 2 * padding, w + 2 * padding)
    g = grad.reshape(n, c, m, ho, wo).transpose(0, 1).reshape(c * n * m, 1, ho, wo)
    out = F.conv2d(xp, g, None, dilation, 0, stride, groups=c * n)
    return out.view(c, n, m, *out.shape[-2:])[..., :k, :k].sum(1).reshape(c * m, 1, k, k)


def _input_gradient(grad, weight, conf, x, relu: bool):
    """The gradient with respect to x of conv(relu(x) if relu else x, weight): convᵀ(grad, weight),
    masked where the ReLU cut (shared by `_Depthwise` and `_DepthwiseWeight`, whose x it is)."""
    g = _DepthwiseInput.apply(grad, weight, conf, tuple(x.shape))
    return torch.ops.aten.threshold_backward(g, x, 0.0) if relu else g


class _Depthwise(torch.autograd.Function):
    """A depthwise convolution whose backward is computed as forward convolutions.

    On the CPU, PyTorch's own backward of a depthwise convolution is slow for every kernel but
    3×3 without dilation (the weight gradient of a 5×5 one took 5-7× its grouped-convolution
    form, and a dilated one's input gradient 8× its forward; measured in benchmark/README.md).
    The convolution y = conv(x, w), its input gradient convᵀ(g, w) and its weight gradient
    corr(x, g) are bilinear, and each one's derivatives are the other two: the three Functions
    here call each other in their backwards, so a double backward (second-order DARTS, exact
    Hessian-vector products) runs on the fast forms too."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, x, weight, conf, relu=False):
        ctx.save_for_backward(x, weight)
        ctx.conf, ctx.relu = conf, relu
        return _conv(F.relu(x) if relu else x, weight, conf)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")   # under autocast (amp): as the forward ran
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = _input_gradient(grad, weight, ctx.conf, x, ctx.relu)
        if ctx.needs_input_grad[1]:
            grad_w = _DepthwiseWeight.apply(x, grad, ctx.conf, weight.shape[-1], ctx.relu)
        return grad_x, grad_w, None, None


class _DepthwiseInput(torch.autograd.Function):
    """convᵀ(g, w): `_Depthwise`'s input gradient (before the ReLU's mask, where it has one)."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, grad, weight, conf, shape):
        ctx.save_for_backward(grad, weight)
        ctx.conf = conf
        return _input_grad(grad, weight, conf, shape)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, gg):
        grad, weight = ctx.saved_tensors
        d_grad = d_weight = None
        if ctx.needs_input_grad[0]:
            d_grad = _Depthwise.apply(gg, weight, ctx.conf)
        if ctx.needs_input_grad[1]:
            d_weight = _DepthwiseWeight.apply(gg, grad, ctx.conf, weight.shape[-1], False)
        return d_grad, d_weight, None, None


class _DepthwiseWeight(torch.autograd.Function):
    """corr(x, g) (of relu(x) if `relu`): `_Depthwise`'s weight gradient. With the ReLU inside,
    a double backward's graph keeps x (kept anyway), not relu(x)."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, x, grad, conf, k, relu):
        ctx.save_for_backward(x, grad)
        ctx.conf, ctx.relu = conf, relu
        return _weight_grad(F.relu(x) if relu else x, grad, conf, k)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, gw):
        x, grad = ctx.saved_tensors
        d_x = d_grad = None
        if ctx.needs_input_grad[0]:
            d_x = _input_gradient(grad, gw, ctx.conf, x, ctx.relu)
        if ctx.needs_input_grad[1]:
            d_grad = _Depthwise.apply(x, gw, ctx.conf, ctx.relu)
        return d_x, d_grad, None, None, None


def depthwise(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int,
              dilation: int, relu: bool = False) -> torch.Tensor:
    """F.conv2d(x, weight, groups=channels) (of relu(x) if `relu`) with the faster backward of
    `_Depthwise` where PyTorch's own is slow (the CPU, every kernel but 3×3 without dilation);
    there the ReLU is part of the Function, which keeps x and not relu(x) (x is a BatchNorm's
    output, kept anyway)."""
    if x.device.type != "cpu" or (weight.shape[-1] == 3 and dilation == 1):
        return F.conv2d(F.relu(x) if relu else x, weight, None, stride, padding, dilation,
                        groups=x.shape[1])
    return _Depthwise.apply(x, weight, (stride, padding, dilation), relu)


def _relu_conv(module: DilConv) -> tuple[nn.Conv2d, nn.Conv2d, nn.BatchNorm2d]:
    """(depthwise, pointwise, BatchNorm) of a DilConv (its ReLU is shared)."""
    _, dw, pw, bn = module.op
    return dw, pw, bn


def _plain_bn(bn: nn.Module) -> bool:
    """Whether `bn` is the search cell's BatchNorm, which `_batch_norm` computes: no affine
    parameters, no running statistics (it normalises by the batch's, in training and eval)."""
    return isinstance(bn, nn.BatchNorm2d) and not bn.affine and not bn.track_running_stats


def _kind(op: nn.Module) -> str:
    """How the batched pass computes `op`; "other": edge by edge, as its own module. An operation
    whose BatchNorm has affine parameters or running statistics is "other": the batched pass
    normalises without either (a hand-built cell with them would otherwise differ from the plain
    one by tens of percent, silently)."""
    if isinstance(op, Zero):
        return "none"
    if isinstance(op, Identity):
        return "identity"
    if isinstance(op, FactorizedReduce):
        return "reduce" if _plain_bn(op.bn) else "other"
    if isinstance(op, SepConv):
        return "sep" if all(_plain_bn(half.op[3]) for half in op.op) else "other"
    if isinstance(op, DilConv):
        return "dil" if _plain_bn(op.op[3]) else "other"
    if (isinstance(op, nn.Sequential) and len(op) == 2
            and isinstance(op[0], (nn.MaxPool2d, nn.AvgPool2d)) and _plain_bn(op[1])):
        return "pool"
    return "other"


def _bn_backward(g: torch.Tensor, x_hat: torch.Tensor, weight: torch.Tensor, mask: list[bool]):
    """PyTorch's fused batch-norm backward taking x_hat itself as the normalised input (mean 0 and
    invstd 1 passed): (weight·(g − mean(g) − x̂·mean(g·x̂)), Σ g·x̂, Σ g) per channel, as `mask`
    asks. With x̂ = y and weight = invstd the first is `_BatchNorm`'s input gradient."""
    return torch.ops.aten.native_batch_norm_backward(
        g, x_hat, weight, None, None, torch.zeros_like(weight), torch.ones_like(weight), True, 0.0,
        mask)


class _BatchNorm(torch.autograd.Function):
    """The supernet's BatchNorm (training mode, no affine parameters, no running statistics) with
    a backward that reads its output y instead of its input x.

    Without affine parameters y = (x − mean)·invstd is the normalised input, and the input gradient
    invstd·(dy − mean(dy) − y·mean(dy·y)) needs only y and invstd. PyTorch's BatchNorm keeps x,
    which nothing else needs (it is a pointwise convolution's output), while y is kept anyway by
    what reads it (the mixing, the next ReLU): one activation-sized tensor fewer per BatchNorm.
    invstd is returned as a second output so that a double backward (exact Hessian-vector
    products) sees its dependence on x: d invstd / dx = −invstd²·y / M, M values per channel."""

    @staticmethod
    def forward(ctx, x, eps):
        y, _, invstd = torch.native_batch_norm(x, None, None, None, None, True, 0.0, eps)
        ctx.save_for_backward(y, invstd)
        ctx.set_materialize_grads(False)
        return y, invstd

    @staticmethod
    def backward(ctx, dy, dinvstd):
        y, invstd = ctx.saved_tensors
        dx = None
        shape = (1, -1) + (1,) * (y.dim() - 2)
        if dy is not None:
            if torch.is_grad_enabled():   # create_graph: a double backward will follow
                dx = _BatchNormInputGrad.apply(dy, y, invstd)
            else:                         # one fused kernel
                dx = _bn_backward(dy, y, invstd, [True, False, False])[0]
        if dinvstd is not None:
            m = y.numel() // y.shape[1]
            part = y * (-(invstd * invstd) * dinvstd / m).view(shape)
            dx = part if dx is None else dx + part
        return (None if dx is None else dx.to(y.dtype)), None


class _BatchNormInputGrad(torch.autograd.Function):
    """dx = invstd·(dy − a − y·m), a = mean(dy), m = mean(dy·y) per channel: `_BatchNorm`'s input
    gradient as one node of a create_graph backward, whose own backward (the double backward of
    an exact Hessian-vector product) keeps dx instead of dy.

    Written with autograd's operations, the graph keeps dy (its products with y and invstd need
    it), one activation-sized tensor per BatchNorm, while dx is kept anyway where a pointwise
    convolution's weight gradient reads it (elsewhere, e.g. after a pooling, dx takes dy's place).
    dy = dx/invstd + a + y·m recovers it from dx and two numbers per channel, so the double
    backward needs only dx, y, invstd, a and m:

        ∂/∂dy = invstd·(G − mean(G) − y·mean(G·y))            (the BatchNorm backward of G)
        ∂/∂y  = −invstd·m·G − mean(G·y)·(dx + invstd·(a + y·m))
        ∂/∂invstd = Σ G·dx / invstd                            (per channel)

    for the gradient G of dx. Its backward is not differentiable again (no third derivatives)."""

    @staticmethod
    def forward(ctx, dy, y, invstd):
        m_count = y.numel() // y.shape[1]
        dx, sum_dy_y, sum_dy = _bn_backward(dy, y, invstd, [True, True, True])
        a, m = sum_dy / m_count, sum_dy_y / m_count
        ctx.save_for_backward(dx, y, invstd, a, m)
        return dx

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        dx, y, invstd, a, m = ctx.saved_tensors
        shape = (1, -1) + (1,) * (y.dim() - 2)
        need_dy, need_y, need_s = ctx.needs_input_grad
        g_dy = g_y = g_s = None
        if need_dy or need_y:   # the BatchNorm backward of G, and Σ G·y per channel with it
            g_dy, sum_gy, _ = _bn_backward(g, y, invstd, [need_dy, need_y, False])
        if need_y:   # four fused passes: c1·G + c2·dx + c3·y + c4, per-channel coefficients
            mean_gy = sum_gy / (y.numel() // y.shape[1])
            g_y = torch.mul(g, (-invstd * m).view(shape))
            g_y.addcmul_(dx, (-mean_gy).view(shape))
            g_y.addcmul_(y, (-mean_gy * invstd * m).view(shape))
            g_y.add_((-mean_gy * invstd * a).view(shape))
        if need_s:   # Σ G·dx per channel: the same kernel's weight gradient with dx as its input
            g_s = _bn_backward(g, dx, torch.ones_like(invstd), [False, True, False])[1] / invstd
        return g_dy, g_y, g_s


def _batch_norm(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """The weight-free, statistics-free BatchNorm of the supernet, over every channel of x
    (`_BatchNorm`: its backward keeps the output, not the input)."""
    return _BatchNorm.apply(x, bn.eps)[0]


def _to_group_major(z: torch.Tensor, groups: int) -> torch.Tensor:
    """[N, C·G, H, W] with channel c·G + g (a depthwise convolution's order) → channel g·C + c."""
    n, cg, h, w = z.shape
    return z.view(n, cg // groups, groups, h, w).transpose(1, 2).reshape(n, cg, h, w)


def _as_5x5(weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """A depthwise kernel of 3×3 (dilation 1 or 2) or 5×5 (dilation 1) as the 5×5 kernel of a
    dilation-1 convolution with padding 2 that computes the same thing."""
    k = weight.shape[-1]
    if dilation == 1:
        pad = (5 - k) // 2
        return F.pad(weight, (pad, pad, pad, pad))
    out = weight.new_zeros(*weight.shape[:2], 5, 5)
    out[:, :, ::2, ::2] = weight
    return out


def _spec(conv: nn.Conv2d) -> tuple[int, int, int, int]:
    """What a depthwise convolution computes besides its weight: (kernel, dilation, padding,
    stride), square; equal specs make one grouped call."""
    return conv.kernel_size[0], conv.dilation[0], conv.padding[0], conv.stride[0]


def _fits_5x5(spec: tuple[int, int, int, int]) -> bool:
    k, d = spec[:2]
    return (d == 1 and k in (3, 5)) or (d == 2 and k == 3)


def _square(convs: list[nn.Conv2d]) -> None:
    for c in convs:
        if len(set(c.kernel_size)) + len(set(c.dilation)) + len(set(c.padding)) \
                + len(set(c.stride)) != 4:
            raise ValueError(f"the batched cell takes square depthwise convolutions, not {c}")


def depthwise_many(x: torch.Tensor, convs: list[nn.Conv2d], merge_5x5: bool) -> torch.Tensor:
    """Every depthwise convolution in `convs` applied to the same x: [N, C·G, H', W'] in group-major
    order (G = len(convs), channel g·C + c is convs[g]'s channel c). One grouped call per
    (kernel, dilation, padding), or one 5×5 call for all that fit in 5×5 when `merge_5x5`."""
    _square(convs)
    return _depthwise_many(x, *[c.weight for c in convs],
                           specs=tuple(_spec(c) for c in convs), merge_5x5=merge_5x5)


def _depthwise_many(x: torch.Tensor, *weights: torch.Tensor, specs: tuple,
                    merge_5x5: bool) -> torch.Tensor:
    """`depthwise_many` from the weights and specs."""
    signature = {}
    for g, spec in enumerate(specs):
        key = ("5x5", spec[3]) if merge_5x5 and _fits_5x5(spec) else spec
        signature.setdefault(key, []).append(g)
    parts, order = [], []
    c = x.shape[1]
    for key, members in signature.items():
        _, dilation, padding, stride = specs[members[0]]
        if key[0] == "5x5":
            group = [_as_5x5(weights[g], specs[g][1]) for g in members]
            dilation, padding = 1, 2
        else:
            group = [weights[g] for g in members]
        weight = torch.stack(group, dim=1).reshape(c * len(members), 1, *group[0].shape[-2:])
        z = depthwise(x, weight, stride, padding, dilation)
        parts.append(_to_group_major(z, len(members)))
        order += members
    out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    if order != sorted(order):   # back to the order of `convs`
        n, _, h, w = out.shape
        inverse = torch.tensor(order, device=out.device).argsort()
        out = out.view(n, len(specs), c, h, w)[:, inverse].reshape(n, len(specs) * c, h, w)
    return out


def depthwise_grouped(x: torch.Tensor, convs: list[nn.Conv2d], merge_5x5: bool,
                      relu: bool = False) -> torch.Tensor:
    """convs[g] applied to x's (or relu(x)'s) channel group g ([N, C·G, H, W], group-major): one
    grouped call per run of equal convolutions, or one 5×5 call for all when every kernel fits
    in 5×5."""
    _square(convs)
    return _depthwise_grouped(x, *[c.weight for c in convs],
                              specs=tuple(_spec(c) for c in convs), merge_5x5=merge_5x5, relu=relu)


def _depthwise_grouped(x: torch.Tensor, *weights: torch.Tensor, specs: tuple, merge_5x5: bool,
                       relu: bool = False) -> torch.Tensor:
    """`depthwise_grouped` from the weights and specs."""
    if merge_5x5 and all(_fits_5x5(s) for s in specs) and len({s[3] for s in specs}) == 1:
        weight = torch.cat([_as_5x5(w, s[1]) for w, s in zip(weights, specs)])
        return depthwise(x, weight, specs[0][3], 2, 1, relu)
    if relu:
        x = F.relu(x)
    c = x.shape[1] // len(specs)
    outs, start = [], 0
    while start < len(specs):
        end = start + 1
        while end < len(specs) and specs[end] == specs[start]:
            end += 1
        _, dilation, padding, stride = specs[start]
        outs.append(depthwise(x[:, start * c:end * c], torch.cat(weights[start:end]), stride,
                              padding, dilation))
        start = end
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)


def _pointwise(weight: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """[G, C_out, C_in] weights applied to z's G channel groups: [N, G·C_out, H, W]."""
    g, c_out, c_in = weight.shape
    n, _, h, w = z.shape
    return torch.matmul(weight, z.reshape(n, g, c_in, h * w)).view(n, g * c_out, h, w)


def pointwise_grouped(z: torch.Tensor, convs: list[nn.Conv2d]) -> torch.Tensor:
    """convs[g] (a 1×1 convolution) applied to z's channel group g: one batched matrix product
    (on the CPU 2–5× faster, forward and backward, than the grouped 1×1 convolution)."""
    return _pointwise(torch.stack([c.weight.flatten(1) for c in convs]), z)


def _recomputed_z(z: torch.Tensor, producer, inputs: list[torch.Tensor], autocast):
    """Saved-tensor hooks under which what an operation keeps of z (a view of its storage) is
    kept as the recipe producer(*inputs) and computed again when unpacked. Autograd gives the
    unpacked tensor z's place in the graph back, so derivatives through it are unchanged."""
    storage = z.untyped_storage().data_ptr()

    def pack(t):
        if t.layout != torch.strided or t.untyped_storage().data_ptr() != storage:
            return t
        return (t.size(), t.stride(), t.storage_offset())

    def unpack(packed):
        if isinstance(packed, torch.Tensor):
            return packed
        size, stride, offset = packed
        with torch.no_grad(), autocast:
            return producer(*inputs).as_strided(size, stride, offset)

    return torch.autograd.graph.saved_tensors_hooks(pack, unpack)


class _RecomputedPointwise(torch.autograd.Function):
    """pointwise(W, z) with z = producer(x, *weights) (the depthwise convolutions before it)
    computed again in the backward instead of kept.

    A pointwise convolution's weight gradient needs its input z, the depthwise convolutions'
    output: kept, that is one activation-sized tensor per separable or dilated convolution
    until the backward. Recomputing it costs one depthwise forward (a small part of a pass) and
    keeps x, which is kept anyway (the state's ReLU, or a BatchNorm's output). Under
    create_graph (a double backward will follow) the recomputation is part of the new graph, so
    second derivatives are exact, and the new graph does not keep z either: the weight
    gradient's product is given z through saved-tensor hooks that compute it again when that
    double backward needs it (`_recomputed_z`)."""

    @staticmethod
    def forward(ctx, producer, pw, x, *weights):
        ctx.producer = producer
        ctx.save_for_backward(pw, x, *weights)
        device = x.device.type   # the backward computes under the forward's autocast (amp)
        ctx.autocast = (device, torch.get_autocast_dtype(device), torch.is_autocast_enabled(device))
        with torch.no_grad():
            return _pointwise(pw, producer(x, *weights))

    @staticmethod
    def backward(ctx, gy):
        pw, x, *weights = ctx.saved_tensors
        needs = ctx.needs_input_grad[2:]
        create = torch.is_grad_enabled()     # a double backward will follow
        inputs = [x, *weights]
        if not create:
            inputs = [t.detach().requires_grad_(need) for t, need in zip(inputs, needs)]
        device, dtype, enabled = ctx.autocast
        autocast = torch.autocast(device, dtype=dtype, enabled=enabled)
        with torch.enable_grad(), autocast:
            z = ctx.producer(*inputs)
        g, c_out, c_in = pw.shape
        n, _, h, w = z.shape
        gy = gy.reshape(n, g, c_out, h * w)
        grad_pw = None
        if ctx.needs_input_grad[1]:
            with _recomputed_z(z, ctx.producer, inputs, autocast) if create else nullcontext(), \
                    autocast:
                grad_pw = torch.matmul(gy, z.reshape(n, g, c_in, h * w).transpose(-1, -2)).sum(0)
            grad_pw = grad_pw.to(pw.dtype)
        grads = [None] * len(inputs)
        wanted = [t for t, need in zip(inputs, needs) if need]
        if wanted:
            with autocast:
                gz = torch.matmul(pw.transpose(1, 2), gy).view(z.shape)
            found = iter(torch.autograd.grad(z, wanted, gz, create_graph=create))
            grads = [next(found) if need else None for need in needs]
        return (None, grad_pw, *grads)


def conv_pointwise(x: torch.Tensor, dws: list[nn.Conv2d], pws: list[nn.Conv2d], merge_5x5: bool,
                   grouped: bool, relu: bool = False, recompute: bool = True) -> torch.Tensor:
    """pointwise_grouped(depthwise_grouped(x, dws, …, relu), pws) (`grouped`) or
    pointwise_grouped(depthwise_many(x, dws, …), pws) (x is shared: no ReLU), with the depthwise
    output recomputed in the backward (`_RecomputedPointwise`) if `recompute`, else kept."""
    if not recompute:
        z = depthwise_grouped(x, dws, merge_5x5, relu) if grouped else depthwise_many(x, dws, merge_5x5)
        return pointwise_grouped(z, pws)
    _square(dws)
    specs = tuple(_spec(c) for c in dws)
    if grouped:
        producer = partial(_depthwise_grouped, specs=specs, merge_5x5=merge_5x5, relu=relu)
    else:
        if relu:
            raise ValueError("depthwise_many reads a shared input: apply its ReLU once, before")
        producer = partial(_depthwise_many, specs=specs, merge_5x5=merge_5x5)
    pw = torch.stack([c.weight.flatten(1) for c in pws])
    return _RecomputedPointwise.apply(producer, pw, x, *[c.weight for c in dws])


def _op_kinds(edge: nn.Module) -> list[str]:
    """The kind of each of a MixedOp's operations, found once and kept on it (a step's forward
    asks at every state)."""
    kinds = edge.__dict__.get("_batched_kinds")
    if kinds is None:
        kinds = edge.__dict__["_batched_kinds"] = [_kind(op) for op in edge.ops]
    return kinds


def _edge_kinds(edges: list[nn.Module]) -> list[str]:
    kinds = _op_kinds(edges[0])
    for e in edges[1:]:
        if _op_kinds(e) != kinds:
            raise ValueError("edges that read the same state hold different operations")
    return kinds


RECOMPUTE = ("none", "separable", "all")


def edges_forward(x: torch.Tensor, mixed_ops: list[nn.Module], weights: torch.Tensor,
                  merge_5x5: bool = True, recompute: str = "separable") -> torch.Tensor:
    """The outputs of the MixedOps `mixed_ops` (all reading x, with one stride) stacked:
    [N, E, C, H', W'], edge e mixed with weights[e] (softmax(α) of its row).
    (Long: one fused computation whose intermediate tensors its backward shares; split, they would be passed
    around or recomputed.)"""
    if recompute not in RECOMPUTE:
        raise ValueError(f"recompute must be one of {', '.join(RECOMPUTE)}, got {recompute!r}")
    E = len(mixed_ops)
    kinds = _edge_kinds(mixed_ops)
    ops_of = lambda i: [m.ops[i] for m in mixed_ops]   # noqa: E731
    n, c = x.shape[:2]
    need_relu = any(k in ("sep", "dil", "reduce") for k in kinds)
    rx = F.relu(x) if need_relu else None
    outputs: dict[int, torch.Tensor] = {}    # primitive index → [N, E, C, H', W'] or [N, 1, C, ...]

    # the convolutions: stage 1 of every sep and dil op of every edge in one batch
    conv_ops = [i for i, k in enumerate(kinds) if k in ("sep", "dil")]
    if conv_ops:
        stage1 = [(i, e, m.ops[i].op[0] if kinds[i] == "sep" else m.ops[i])
                  for i in conv_ops for e, m in enumerate(mixed_ops)]
        dws, pws, bns = zip(*[_relu_conv(module) for _, _, module in stage1])
        y = _batch_norm(conv_pointwise(rx, list(dws), list(pws), merge_5x5, grouped=False,
                                      recompute=recompute == "all"), bns[0])
        sep_ops = [i for i in conv_ops if kinds[i] == "sep"]
        dil_ops = [i for i in conv_ops if kinds[i] == "dil"]
        h, w = y.shape[-2:]
        # one piece per operation (unbind, not indexing: the backward of each index into y would
        # fill a zero tensor of y's whole size; unbind's stacks the pieces' gradients once)
        ys = y.view(n, len(conv_ops), E, c, h, w).unbind(1)
        # conv_ops lists sep and dil in primitive order; their slots in ys
        slot = {i: s for s, i in enumerate(conv_ops)}
        if sep_ops:
            # stage 2 of the separable convolutions: their own inputs, one batch again (a slice
            # of y where the separable convolutions come first, as in DARTS: no copy kept for
            # the backward, which still fills a zero tensor of y's size for the slice's gradient)
            if sep_ops == conv_ops[:len(sep_ops)]:
                u = y[:, :len(sep_ops) * E * c]
            else:
                u = torch.stack([ys[slot[i]] for i in sep_ops], dim=1).view(
                    n, len(sep_ops) * E * c, h, w)
            stage2 = [m.ops[i].op[1] for i in sep_ops for m in mixed_ops]
            dws2, pws2, bns2 = zip(*[_relu_conv(module) for module in stage2])
            y2 = _batch_norm(conv_pointwise(u, list(dws2), list(pws2), merge_5x5, grouped=True,
                                            relu=True, recompute=recompute != "none"), bns2[0])
            y2 = y2.view(n, len(sep_ops), E, c, *y2.shape[-2:]).unbind(1)
            for s, i in enumerate(sep_ops):
                outputs[i] = y2[s]
        for i in dil_ops:
            outputs[i] = ys[slot[i]]

    for i, k in enumerate(kinds):
        if k == "pool":
            op = mixed_ops[0].ops[i]
            outputs[i] = _batch_norm(op[0](x), op[1]).unsqueeze(1)   # the same on every edge
        elif k == "identity":
            outputs[i] = x.unsqueeze(1)
        elif k == "reduce":
            frs = ops_of(i)
            shifted = rx[:, :, 1:, 1:]
            if x.shape[-1] % 2 or x.shape[-2] % 2:
                shifted = F.pad(shifted, (0, 1, 0, 1))
            a = F.conv2d(rx, torch.cat([f.conv_1.weight for f in frs]), None, 2)
            b = F.conv2d(shifted, torch.cat([f.conv_2.weight for f in frs]), None, 2)
            h, w = a.shape[-2:]
            half = a.shape[1] // E
            both = torch.stack([a.view(n, E, half, h, w), b.view(n, E, half, h, w)], dim=2)
            outputs[i] = _batch_norm(both.reshape(n, E * 2 * half, h, w), frs[0].bn).view(
                n, E, 2 * half, h, w)
        elif k == "other":
            outputs[i] = torch.stack([m.ops[i](x) for m in mixed_ops], dim=1)

    out = None
    for i in mixed_ops[0].active:
        # softmax(α) in the outputs' dtype: a float32 mixing weight would make the node states
        # float32 under bf16 autocast, where the plain cell's (a 0-dim weight) stay bf16
        y = outputs[i] * weights[:, i].view(1, E, 1, 1, 1).to(outputs[i].dtype)
        out = y if out is None else out + y
    if out.shape[1] != E:   # only shared operations: broadcast to every edge
        out = out.expand(n, E, *out.shape[2:])
    return out


def cell_forward(cell: nn.Module, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                 merge_5x5: bool = True) -> torch.Tensor:
    """`SearchCell.forward` with the edges batched by the state they read (see the module)."""
    states = [cell.preprocess0(s0), cell.preprocess1(s1)]
    nodes = cell.nodes
    offsets = [sum(k + 2 for k in range(i)) for i in range(nodes)]
    acc: list[torch.Tensor | None] = [None] * nodes
    for j in range(nodes + 1):
        x = states[j]
        targets = list(range(max(0, j - 1), nodes))
        ids = [offsets[i] + j for i in targets]
        mixed_ops = [cell.edges[e] for e in ids]
        k = mixed_ops[0].k
        part = x if k == 1 else x[:, :x.shape[1] // k]
        out = edges_forward(part, mixed_ops, weights[ids], merge_5x5,
                            getattr(cell, "recompute", "separable"))
        if k > 1:
            rest = x[:, x.shape[1] // k:]
            if mixed_ops[0].stride == 2:
                rest = F.max_pool2d(rest, 2, 2, ceil_mode=True)
        for y, i in zip(out.unbind(1), targets):
            if k > 1:
                y = channel_shuffle(torch.cat([y, rest], dim=1), k)
            acc[i] = y if acc[i] is None else acc[i] + y
        if j >= 1:
            states.append(acc[j - 1])
    return torch.cat(states[-cell.multiplier:], dim=1)
