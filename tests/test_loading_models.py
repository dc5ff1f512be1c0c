"""load_model: every format gives back the same predictions, and files that run code stay shut unless trusted."""
import copy
import hashlib
import operator
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from unboxed import adapt, zoo
from unboxed.errors import InputError
from unboxed.loading import load_model, save_model
from unboxed.loading.model_files import UntrustedFileWarning

TORCH_FORMATS = {"torchscript": ".ts", "torch-export": ".pt2", "onnx": ".onnx"}
TOLERANCE = {"torchscript": 1e-5, "torch-export": 1e-5, "onnx": 1e-4}


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_trusted(path, **settings):
    """Load a file that needs trust, checking that trusting it warns."""
    with pytest.warns(UntrustedFileWarning, match="arbitrary code"):
        return load_model(path, trust_pickle=True, **settings)


class TouchesMarker:
    """Unpickling this runs Path.touch(marker): stands for any code hidden in a pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each zoo torch model written once in each torch format: {(zoo name, format): path}."""
    folder = tmp_path_factory.mktemp("models")
    files = {}
    for name in ("breast_cancer_mlp", "digits_cnn"):
        model = zoo.load(name)
        for kind, suffix in TORCH_FORMATS.items():
            files[name, kind] = save_model(model.model, folder / f"{name}{suffix}", example_inputs=model.inputs[:2])
    return files


@pytest.mark.parametrize("kind", TORCH_FORMATS)
@pytest.mark.parametrize("name", ["breast_cancer_mlp", "digits_cnn"])
def test_torch_formats_round_trip(saved, name, kind):
    original = zoo.load(name)
    path = saved[name, kind]
    loaded = load_model(path) if kind == "onnx" else load_trusted(path)
    ours = adapt(loaded.model).outputs(original.inputs)
    theirs = adapt(original.model).outputs(original.inputs)
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max() <= TOLERANCE[kind]
    assert loaded.format == kind and loaded.black_box == (kind == "onnx") and not loaded.layers
    assert loaded.sha256 == sha256(path) and loaded.files == {str(path): loaded.sha256}


@pytest.mark.parametrize("kind", ["torchscript", "torch-export"])
def test_compiled_torch_models_give_the_same_gradients_and_follow_dtype_moves(saved, cancer, kind):
    loaded = load_trusted(saved["breast_cancer_mlp", kind])
    ours, theirs = adapt(loaded.model), adapt(cancer.model)
    inputs = cancer.inputs[:16]
    target = theirs.resolve_target(inputs, None)
    torch.testing.assert_close(ours.gradients(inputs, target)[0], theirs.gradients(inputs, target)[0], rtol=1e-5, atol=1e-6)
    assert ours.layer_names() == []  # no layers to hook: layer methods fail loudly rather than see nothing
    twin = copy.deepcopy(loaded.model)  # a copy shares nothing with the original, and its weights drive it
    with torch.no_grad():
        for parameter in twin.parameters():
            parameter.zero_()
    assert twin(inputs).abs().max() == 0 and loaded.model(inputs).abs().max() > 0
    loaded.model.double()  # .to() must reach the compiled module, not only the wrapper
    doubled = loaded.model(cancer.inputs.double())
    assert doubled.dtype == torch.float64
    torch.testing.assert_close(doubled, copy.deepcopy(cancer.model).double()(cancer.inputs.double()), rtol=1e-6, atol=1e-8)


def test_exported_program_with_a_fixed_batch_runs_any_number_of_rows(cancer, tmp_path):
    path = tmp_path / "fixed.pt2"
    torch.export.save(torch.export.export(cancer.model.eval(), (cancer.inputs[:4],)), path)  # batch fixed at 4
    loaded = load_trusted(path)
    assert loaded.model.batch_size == 4 and any("exactly 4" in note for note in loaded.notes)
    torch.testing.assert_close(adapt(loaded.model).outputs(cancer.inputs[:143]), cancer.model(cancer.inputs[:143]), rtol=1e-5, atol=1e-6)


def test_import_path_with_safetensors_weights_round_trips_exactly(cancer, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(
        "from unboxed.zoo.breast_cancer import BreastCancerMLP\n\n\ndef build():\n    return BreastCancerMLP(30)\n"
    )
    weights = tmp_path / "mlp.safetensors"
    save_file({key: value.contiguous() for key, value in cancer.model.state_dict().items()}, weights)
    monkeypatch.chdir(tmp_path)
    for spec in ("models/net.py:build", "unboxed.zoo.breast_cancer:BreastCancerMLP"):
        loaded = load_model(spec, weights="mlp.safetensors")
        assert torch.equal(adapt(loaded.model).outputs(cancer.inputs), adapt(cancer.model).outputs(cancer.inputs))
        assert loaded.format == "import-path" and not loaded.black_box and loaded.layers
        assert not loaded.model.training
        assert loaded.sha256 == sha256(weights)
    assert sha256(tmp_path / "models" / "net.py") in load_model("models/net.py:build").files.values()


def test_weights_that_do_not_fit_name_the_keys(cancer, tmp_path):
    state = {key: value.contiguous() for key, value in cancer.model.state_dict().items()}
    extra = tmp_path / "extra.safetensors"
    save_file({**state, "head.weight": torch.zeros(2)}, extra)
    with pytest.raises(InputError, match="unexpected keys head.weight"):
        load_model("unboxed.zoo.breast_cancer:BreastCancerMLP", weights=extra)
    resized = tmp_path / "resized.safetensors"
    save_file({**state, "net.4.bias": torch.zeros(3)}, resized)
    with pytest.raises(InputError, match=r"net.4.bias is \(3,\) in the file but \(2,\) in the model"):
        load_model("unboxed.zoo.breast_cancer:BreastCancerMLP", weights=resized)
    missing = tmp_path / "missing.safetensors"
    save_file({key: value for key, value in state.items() if key != "net.0.weight"}, missing)
    with pytest.raises(InputError, match="missing keys net.0.weight"):
        load_model("unboxed.zoo.breast_cancer:BreastCancerMLP", weights=missing)


@pytest.fixture(scope="module")
def cancer_logreg():
    data = load_breast_cancer()
    inputs = (data.data - data.data.mean(0)) / data.data.std(0)
    return LogisticRegression(max_iter=500).fit(inputs, data.target), torch.tensor(inputs)


def test_skops_round_trips_scikit_learn_models_exactly(cancer_logreg, tmp_path):
    model, inputs = cancer_logreg
    loaded = load_model(save_model(model, tmp_path / "logreg.skops"))
    assert torch.equal(adapt(loaded.model).outputs(inputs), adapt(model).outputs(inputs))
    assert loaded.format == "skops" and loaded.black_box and loaded.sha256 == sha256(tmp_path / "logreg.skops")
    text = zoo.load("rotten_tomatoes_logreg")
    loaded = load_model(save_model(text.model, tmp_path / "text.skops"))
    texts = np.asarray(text.inputs[:200], dtype=str)  # the adapter takes texts as a numpy array
    assert torch.equal(adapt(loaded.model).outputs(texts), adapt(text.model).outputs(texts))


def test_skops_refuses_types_outside_scikit_learn_numpy_scipy_unless_trusted(cancer_logreg, tmp_path):
    model, inputs = cancer_logreg
    pipeline = make_pipeline(FunctionTransformer(operator.pos), model)  # operator.pos: not library code
    path = save_model(pipeline, tmp_path / "foreign.skops")
    with pytest.raises(InputError, match=r"outside scikit-learn, numpy and scipy \(_operator.pos\).*--trust-pickle"):
        load_model(path)
    loaded = load_trusted(path)
    assert torch.equal(adapt(loaded.model).outputs(inputs), adapt(pipeline).outputs(inputs))


@pytest.mark.parametrize("suffix", [".pkl", ".joblib", ".pt", ".pth"])
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickles_are_refused_and_nothing_in_them_runs(tmp_path, suffix, writer):
    marker = tmp_path / "marker"
    path = tmp_path / f"model{suffix}"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(TouchesMarker(marker)))
    else:
        torch.save(TouchesMarker(marker), path)  # a zip archive holding data.pkl
    with pytest.raises(InputError, match="(pickle|pickled).*arbitrary code.*--trust-pickle"):
        load_model(path)
    assert not marker.exists()
    # the file really is dangerous: trusting it runs the hidden code
    with pytest.warns(UntrustedFileWarning), pytest.raises(InputError, match="NoneType, not a torch module"):
        load_model(path, trust_pickle=True)
    assert marker.exists()


def test_pickled_weights_are_refused_and_nothing_in_them_runs(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"net.0.weight": TouchesMarker(marker)}, tmp_path / "weights.pt")
    with pytest.raises(InputError, match="torch pickle of weights.*--trust-pickle.*safetensors"):
        load_model("unboxed.zoo.breast_cancer:BreastCancerMLP", weights=tmp_path / "weights.pt")
    assert not marker.exists()


def test_a_torch_save_state_dict_of_tensors_loads_without_trust(tmp_path):
    """torch's restricted unpickler (weights_only=True) runs no code: tensors-only weights need no flag."""
    cancer = zoo.load("breast_cancer_mlp")
    torch.save(cancer.model.state_dict(), tmp_path / "weights.pt")
    loaded = load_model("unboxed.zoo.breast_cancer:BreastCancerMLP", weights=tmp_path / "weights.pt")
    torch.testing.assert_close(loaded.model(cancer.inputs), cancer.model(cancer.inputs))
    assert any("restricted unpickler" in note for note in loaded.notes)


class WritesFileWhenLoaded(torch.nn.Module):
    """A TorchScript module whose __setstate__, run by torch.jit.load, writes a file."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.weight = torch.ones(2, 2)

    def forward(self, inputs):
        return inputs @ self.weight

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool, torch.Tensor]:
        return self.marker, self.training, self.weight

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool, torch.Tensor]) -> None:
        self.marker, self.training, self.weight = state[0], state[1], state[2]
        torch.ops.aten.save(torch.zeros(1), self.marker)


def test_torchscript_is_refused_unless_trusted_because_loading_it_can_write_files(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "crafted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(WritesFileWhenLoaded(str(marker))).save(str(path))
    with pytest.raises(InputError, match="TorchScript archive: loading it can run arbitrary code.*ONNX"):
        load_model(path)
    assert not marker.exists()
    load_trusted(path)
    assert marker.exists()


def test_a_benign_trusted_pickle_loads_and_warns(cancer_logreg, tmp_path):
    model, inputs = cancer_logreg
    path = tmp_path / "logreg.pkl"
    path.write_bytes(pickle.dumps(model))
    loaded = load_trusted(path)
    assert loaded.format == "pickle" and loaded.black_box and loaded.sha256 == sha256(path)
    assert any("--trust-pickle" in note for note in loaded.notes)
    assert torch.equal(adapt(loaded.model).outputs(inputs), adapt(model).outputs(inputs))


def test_a_pickled_state_dict_points_to_an_import_path(cancer, tmp_path):
    torch.save(cancer.model.state_dict(), tmp_path / "state.pt")
    with pytest.warns(UntrustedFileWarning), pytest.raises(InputError, match="only weights.*import path"):
        load_model(tmp_path / "state.pt", trust_pickle=True)


def _onnx_file(path, inputs, output_shape, nodes, initializers=()):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "test", [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, output_shape)], list(initializers),
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_onnx_with_a_fixed_batch_runs_rows_in_chunks(tmp_path):
    from onnx import numpy_helper

    weight = np.arange(6, dtype=np.float32).reshape(3, 2)
    path = _onnx_file(tmp_path / "fixed.onnx", [("x", [4, 3])], [4, 2], [_node("MatMul", ["x", "w"], ["scores"])],
                      [numpy_helper.from_array(weight, "w")])
    loaded = load_model(path)
    rows = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)  # not a multiple of 4
    assert loaded.model.batch_size == 4 and any("exactly 4 rows" in note for note in loaded.notes)
    np.testing.assert_allclose(adapt(loaded.model).outputs(torch.tensor(rows)).numpy(), rows @ weight, rtol=1e-6)


def _node(kind, inputs, outputs):
    from onnx import helper

    return helper.make_node(kind, inputs, outputs)


def test_onnx_with_two_inputs_is_refused(tmp_path):
    path = _onnx_file(tmp_path / "two.onnx", [("a", ["n", 2]), ("b", ["n", 2])], ["n", 2], [_node("Add", ["a", "b"], ["scores"])])
    with pytest.raises(InputError, match=r"takes 2 inputs \(a, b\)"):
        load_model(path)


def test_unreadable_specs_get_errors_that_say_what_is_wrong(tmp_path):
    (tmp_path / "model.xyz").write_text("?")
    (tmp_path / "broken.onnx").write_text("not onnx")
    cases = {
        str(tmp_path / "missing.onnx"): "model file .*missing.onnx' not found",
        str(tmp_path / "model.xyz"): r"cannot tell the format of model.xyz from its suffix .xyz: use .onnx",
        str(tmp_path / "broken.onnx"): "broken.onnx is not an ONNX model onnxruntime can run",
        "nonexistent.module:thing": "cannot import 'nonexistent.module'.*no module named 'nonexistent'",
        "json:nothing": "'json' has no attribute 'nothing'",
        "json:dump": "json:dump takes 2 required arguments",  # neither a factory nor f(batch)
        "torch.nn:Linear": r"calling torch.nn:Linear\(\) with no arguments failed",
        "json:JSONDecoder": r"json:JSONDecoder\(\) returned a JSONDecoder, not a torch module",
        "models/none.py:Net": "Python file 'models/none.py' not found",
        "sklearn.linear_model:LogisticRegression": "gives a LogisticRegression that was never fitted",
    }
    for spec, message in cases.items():
        with pytest.raises(InputError, match=message):
            load_model(spec)
    with pytest.raises(InputError, match="unknown model format 'keras'"):
        load_model("model.h5", format="keras")
    with pytest.raises(InputError, match="--weights goes with an import path"):
        load_model(tmp_path / "model.xyz", weights="w.safetensors", format="onnx")


def test_a_function_of_one_argument_is_a_black_box(tmp_path):
    (tmp_path / "score.py").write_text("import numpy as np\n\ndef score(batch):\n    return np.asarray(batch).sum(1, keepdims=True)\n")
    loaded = load_model(f"{tmp_path}/score.py:score")
    assert loaded.black_box and adapt(loaded.model).outputs(torch.ones(3, 4)).flatten().tolist() == [4.0, 4.0, 4.0]
