"""Arithmetic stand-ins for torch.where on hot paths, and the buffers and shared references that rely on them."""
import numpy as np
import pytest
import torch

from unboxed.choosing import choose, flag
from unboxed.evaluate.similarity import MapComparison, compare_maps
from unboxed.maskers import TabularMasker


def test_choose_is_torch_where_exactly_for_finite_values_with_broadcasting():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(4, 3, 5, generator=generator) * 1e30  # large values: the lerp must still return an end exactly
    b = torch.randn(1, 3, 5, generator=generator) * 1e-30
    values = torch.randn(4, 3, 5, generator=generator)
    for compare, bound in ((torch.lt, 0.0), (torch.ge, 0.5), (torch.eq, 0.0)):
        condition = flag(compare, values, bound)
        assert condition.dtype == values.dtype and set(condition.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(choose(condition, a, b), torch.where(compare(values, bound), a, b))


def test_map_comparison_prepared_once_equals_the_one_off_functions():
    generator = torch.Generator().manual_seed(1)
    original = torch.rand(5, 1, 12, 12, generator=generator)
    original[:, :, :4] = 0.0  # ties, as saliency maps have
    comparison = MapComparison(original, k=0.2)
    for _ in range(3):
        other = original + 0.3 * torch.rand(5, 1, 12, 12, generator=generator)
        expected = compare_maps(original, other, k=0.2)
        for measure, values in comparison.compare(other).items():
            torch.testing.assert_close(values, expected[measure], rtol=0, atol=1e-12)


def test_tabular_masking_over_the_last_batch_gives_the_same_batch():
    generator = torch.Generator().manual_seed(2)
    background, inputs = torch.randn(7, 5, generator=generator), torch.randn(3, 5, generator=generator)
    masker = TabularMasker(background)
    features = masker.features(inputs)
    rows, keep = torch.tensor([0, 2, 1, 1]), torch.rand(4, 5, generator=generator) > 0.5
    fresh = masker.mask(inputs, features, rows, keep).clone()
    buffer = torch.full((40, 5), float("nan"))  # larger than needed, and full of garbage
    reused = masker.mask(inputs, features, rows, keep, out=buffer)
    assert torch.equal(reused, fresh) and reused.data_ptr() == buffer.data_ptr()
    smaller = masker.mask(inputs, features, rows[:2], keep[:2], out=reused)  # the last, shorter chunk
    assert torch.equal(smaller, fresh[: 2 * len(background)])
    expected = np.where(keep[:, None, :].numpy(), inputs[rows][:, None, :].numpy(), background[None].numpy())
    np.testing.assert_array_equal(fresh.numpy(), expected.reshape(-1, 5))


@pytest.mark.parametrize("baselines", ["zeros", "one tensor"])
def test_deeplift_with_one_shared_baseline_equals_one_baseline_per_input(baselines):
    from unboxed.attribution import DeepLift

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3)).eval()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    shared = torch.zeros(1, 8, 8) if baselines == "zeros" else torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(4))
    once = DeepLift(model, baselines="zeros" if baselines == "zeros" else shared).explain(x, target=1)
    per_input = DeepLift(model, baselines=shared.expand(6, 1, 8, 8).clone()).explain(x, target=1)
    np.testing.assert_allclose(once.values, per_input.values, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(once.multipliers, per_input.multipliers, rtol=1e-6, atol=1e-7)
    assert np.abs(once.delta).max() < 1e-5
