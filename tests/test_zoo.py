"""The zoo trains deterministically, caches by recipe, and its models do their job."""
import torch
from safetensors.torch import load_file

from unboxed import zoo
from unboxed.zoo.cache import cache_dir


def test_training_is_deterministic_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("UNBOXED_CACHE", str(tmp_path))
    first = zoo.load("breast_cancer_mlp", seed=4)
    files = list(cache_dir().glob("breast_cancer_mlp-*/weights.safetensors"))
    assert len(files) == 1
    monkeypatch.setenv("UNBOXED_CACHE", str(tmp_path / "other"))
    retrained = zoo.load("breast_cancer_mlp", seed=4)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, retrained.model.state_dict()[key])
    assert load_file(files[0]).keys() == first.model.state_dict().keys()
    different = zoo.load("breast_cancer_mlp", seed=5)
    assert not torch.equal(different.model.net[0].weight, first.model.net[0].weight)


def test_zoo_models_are_accurate(digits, cancer):
    assert digits.facts["test_accuracy"] > 0.95
    assert cancer.facts["test_accuracy"] > 0.93
    with torch.no_grad():
        assert (digits.model(digits.inputs).argmax(1) == digits.labels).float().mean() > 0.95
    assert len(cancer.feature_names) == cancer.inputs.shape[1] == 30


def test_efficientnet_preprocessing_round_trips(effnet):
    from unboxed.zoo.imagenet import preprocess, to_display

    shown = to_display(effnet.inputs)
    assert shown.shape == (2, 224, 224, 3) and 0 <= shown.min() and shown.max() <= 1
    torch.testing.assert_close(preprocess(list(shown)), effnet.inputs, atol=2e-2, rtol=0)
