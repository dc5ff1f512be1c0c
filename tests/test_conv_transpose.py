"""The input gradient of a convolution by the sum of taps equals torch's transposed convolution."""
import pytest
import torch

from unboxed.attribution.conv_transpose import FewTapConv, conv_input_gradient, has_few_taps

CASES = [  # (weight shape, input spatial shape, stride, padding, dilation)
    ((16, 1, 3, 3), (32, 32), [1, 1], [1, 1], [1, 1]),  # the digits CNN's first layer
    ((8, 3, 3, 3), (15, 14), [2, 2], [1, 1], [1, 1]),  # RGB stem at stride 2: odd size, a row no output reads
    ((5, 2, 3, 2), (11, 9), [2, 3], [0, 1], [2, 1]),  # uneven strides, dilation, padding
    ((6, 1, 5), (22,), [3], [0], [1]),  # conv1d; the last two inputs feed no output
    ((4, 1, 3, 1, 3), (7, 5, 6), [1, 2, 1], [1, 0, 1], [1, 1, 2]),  # conv3d
]


@pytest.mark.parametrize("shape, spatial, stride, padding, dilation", CASES)
def test_sum_of_taps_equals_torch_transposed_convolution(shape, spatial, stride, padding, dilation):
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(shape, generator=generator, dtype=torch.float64)
    like = torch.randn((3, shape[1], *spatial), generator=generator, dtype=torch.float64)
    convolve = (torch.conv1d, torch.conv2d, torch.conv3d)[len(spatial) - 1]
    grad = torch.randn(convolve(like, weight, None, stride, padding, dilation).shape, generator=generator, dtype=torch.float64)
    assert has_few_taps(weight, 1)
    theirs = torch.ops.aten.convolution_backward(grad, like, weight, None, stride, padding, dilation, False,
                                                 [0] * len(spatial), 1, [True, False, False])[0]
    ours = conv_input_gradient(grad, weight, like, stride, padding, dilation, 1)
    assert ours.shape == like.shape and ours.is_contiguous()
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_many_channels_or_groups_take_torch_own_op():
    assert not has_few_taps(torch.zeros(8, 4, 3, 3), 1)  # 36 taps
    assert not has_few_taps(torch.zeros(8, 1, 3, 3), 2)  # grouped
    assert has_few_taps(torch.zeros(8, 3, 3, 3), 1)


def test_few_tap_convolution_is_torch_forward_and_its_backward_is_the_input_gradient():
    generator = torch.Generator().manual_seed(1)
    weight, bias = torch.randn(4, 1, 3, 3, generator=generator, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    inputs = torch.randn(2, 1, 7, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    options = {"stride": [2, 1], "padding": [1, 1], "dilation": [1, 2], "groups": 1}
    output = FewTapConv.apply(inputs, weight, bias, options)
    torch.testing.assert_close(output, torch.conv2d(inputs, weight, bias, [2, 1], [1, 1], [1, 2]), rtol=0, atol=0)
    assert torch.autograd.gradcheck(lambda x: FewTapConv.apply(x, weight, bias, options), (inputs,))
