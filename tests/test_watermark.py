"""The watermark ("clever Hans") model: it relies on a tag, and explanations must show it."""
import pytest
import torch

from unboxed import get_method, zoo
from unboxed.errors import InputError
from unboxed.zoo.watermark import add_watermark


@pytest.fixture(scope="module")
def watermark():
    return zoo.load("digits_watermark")


@pytest.fixture(scope="module")
def tagged_class_images(watermark):
    """Held-out images of the tagged class (they carry the tag, as in training)."""
    return watermark.inputs[watermark.labels == watermark.watermark_class][:8]


def test_the_tag_is_where_the_mask_says_and_only_on_the_tagged_class(watermark):
    mask = watermark.watermark_mask
    assert mask.dtype == torch.bool and tuple(mask.shape) == (32, 32) and int(mask.sum()) == 16
    tagged = watermark.labels == watermark.watermark_class
    on_mask = watermark.inputs[:, 0][:, mask]
    assert bool((on_mask[tagged] == 1.0).all())
    assert float(on_mask[~tagged].max()) < 0.25  # the corner is (all but) empty in every untagged digit
    assert watermark.facts["test_accuracy"] > 0.9 and watermark.clean.name == "digits_cnn"


def test_adding_the_tag_flips_other_digits_to_the_tagged_class(watermark):
    others = watermark.inputs[watermark.labels != watermark.watermark_class]
    with torch.no_grad():
        before = (watermark.model(others).argmax(1) == watermark.watermark_class).float().mean()
        flipped = (watermark.model(add_watermark(others)).argmax(1) == watermark.watermark_class).float().mean()
        clean = (watermark.clean.model(add_watermark(others)).argmax(1) == watermark.watermark_class).float().mean()
    assert before < 0.05 and flipped > 0.5 and clean < 0.05
    assert watermark.facts["flip_rate"] == pytest.approx(float(flipped))


def relevance_mass_on(mask, images, model, method, target):
    """Relevance mass accuracy of the method's positive relevance (Arras et al.): positive
    relevance inside the mask / all positive relevance, using the localisation metric."""
    from unboxed.evaluate import RelevanceMassAccuracy

    values = torch.as_tensor(get_method(method)(model).explain(images, target=target).values)
    positive = values.clamp(min=0).expand_as(images)
    masks = mask.expand(len(images), *mask.shape)
    return RelevanceMassAccuracy().evaluate(model, images, target=target, explanation=positive, mask=masks).scores


@pytest.mark.parametrize("method, factor", [("grad_cam", 3), ("integrated_gradients", 20)])
def test_explanations_put_the_relevance_on_the_tag_only_for_the_watermark_model(watermark, tagged_class_images, method, factor):
    area = float(watermark.watermark_mask.float().mean())
    target = watermark.watermark_class
    shortcut = relevance_mass_on(watermark.watermark_mask, tagged_class_images, watermark.model, method, target)
    honest = relevance_mass_on(watermark.watermark_mask, tagged_class_images, watermark.clean.model, method, target)
    assert shortcut.min() > factor * area  # far above the share of the image the tag covers
    assert honest.max() < area  # no more than its share of the picture


def test_relevance_mass_metric_is_the_positive_share_inside_the_mask(watermark, tagged_class_images):
    values = torch.as_tensor(get_method("integrated_gradients")(watermark.model).explain(tagged_class_images, target=0).values)
    positive = values.clamp(min=0)[:, 0]
    expected = positive[:, watermark.watermark_mask].sum(1) / positive.sum((1, 2))
    ours = relevance_mass_on(watermark.watermark_mask, tagged_class_images, watermark.model, "integrated_gradients", 0)
    torch.testing.assert_close(torch.as_tensor(ours), expected.double(), rtol=1e-5, atol=1e-7)


def test_add_watermark_copies_and_checks_its_input():
    images = torch.zeros(2, 1, 32, 32)
    tagged = add_watermark(images)
    assert float(images.sum()) == 0.0 and float(tagged.sum()) == 32.0
    with pytest.raises(InputError, match="digit images"):
        add_watermark(torch.zeros(2, 32, 32))
    with pytest.raises(InputError, match="watermark_class"):
        zoo.load("digits_watermark", watermark_class=12)
