import pytest
import torch

from nas.evaluate import Cell
from nas.genotype import DARTS_V2
from nas.ops import OPS, PRIMITIVES, FactorizedReduce, check_primitives, make_op
from nas.spaces.darts import SearchCell


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_every_primitive_keeps_channels_and_strides(name, stride):
    x = torch.randn(2, 6, 8, 8)
    y = make_op(name, 6, stride, affine=False)(x)
    assert y.shape == (2, 6, 8 // stride, 8 // stride)


def test_none_is_exactly_zero():
    assert make_op("none", 4, 2, affine=True)(torch.randn(2, 4, 8, 8)).abs().sum() == 0


def test_skip_connect_is_identity_at_stride_one():
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(make_op("skip_connect", 4, 1, affine=True)(x), x)


def test_factorized_reduce_halves_odd_sizes_too():
    assert FactorizedReduce(4, 8)(torch.randn(2, 4, 7, 7)).shape == (2, 8, 4, 4)


def test_unknown_operation_is_named():
    with pytest.raises(ValueError, match="'conv_9x9'"):
        check_primitives(["sep_conv_3x3", "conv_9x9"])
    with pytest.raises(ValueError, match="besides 'none'"):
        check_primitives(["none"])


@pytest.mark.parametrize("reduction", [False, True])
@pytest.mark.parametrize("reduction_prev", [False, True])
def test_search_cell_shapes(reduction, reduction_prev):
    C = 4
    s0 = torch.randn(2, 6, 16 if reduction_prev else 8, 16 if reduction_prev else 8)
    s1 = torch.randn(2, 10, 8, 8)
    cell = SearchCell(4, 4, 6, 10, C, reduction, reduction_prev, PRIMITIVES)
    w = torch.softmax(torch.randn(14, len(PRIMITIVES)), -1)
    out = cell(s0, s1, w)
    side = 4 if reduction else 8
    assert out.shape == (2, 4 * C, side, side)


@pytest.mark.parametrize("reduction", [False, True])
def test_eval_cell_shapes(reduction):
    cell = Cell(DARTS_V2, 6, 10, 4, reduction, reduction_prev=False)
    out = cell(torch.randn(2, 6, 8, 8), torch.randn(2, 10, 8, 8), drop_prob=0.0)
    side = 4 if reduction else 8
    assert out.shape == (2, 16, side, side)


@pytest.mark.parametrize("stride,size", [(1, 8), (1, 7), (2, 8), (2, 7)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_box_average_is_the_average_pool_that_does_not_count_the_padding(stride, size,
                                                                          channels_last):
    from nas.ops import BoxAverage
    torch.manual_seed(0)
    x = torch.randn(3, 5, size, size, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    want = torch.nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)(a)
    got = BoxAverage(3, stride)(b)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want)
    g = torch.randn_like(want)
    want.backward(g)
    got.backward(g)
    torch.testing.assert_close(b.grad, a.grad)
    assert list(BoxAverage(3, stride).parameters()) == []
