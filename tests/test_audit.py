"""The audit: reproducible numbers, cases chosen as named, findings that follow the measurements,
a report that opens clean in a real browser, and the command's exit codes."""
import json

import numpy as np
import pytest
import torch
from browser import open_in_browser
from torch import nn
from typer.testing import CliRunner

from unboxed import audit
from unboxed.auditing.cases import choose_cases
from unboxed.auditing.predictions import predict
from unboxed.auditing.report import SECTIONS
from unboxed.auditing.subject import Subject
from unboxed.cli import app
from unboxed.dataset import Dataset
from unboxed.errors import InputError

QUICK = {"cases": 1, "budget": 64, "global_rows": 16}


@pytest.fixture(scope="module")
def cancer_audit():
    return audit("breast_cancer_mlp", methods=["kernel_shap", "saliency", "integrated_gradients"], show_progress=False,
                 **QUICK)


def test_same_seed_same_numbers(cancer_audit):
    again = audit("breast_cancer_mlp", methods=["kernel_shap", "saliency", "integrated_gradients"], show_progress=False,
                  **QUICK)
    assert json.dumps(again.numbers(), sort_keys=True) == json.dumps(cancer_audit.numbers(), sort_keys=True)
    other = audit("breast_cancer_mlp", methods=["kernel_shap"], show_progress=False, seed=1, sanity=False, **QUICK)
    ours = np.asarray(cancer_audit.numbers()["explanations"]["kernel_shap"])
    assert not np.array_equal(np.asarray(other.numbers()["explanations"]["kernel_shap"]), ours)


def test_cases_are_what_they_are_called(cancer_audit):
    predictions = predict(cancer_audit.subject)
    correct = predictions.correct
    by_kind = {case.kind: case for case in cancer_audit.cases}
    right, wrong, border = by_kind["confident right"], by_kind["confident wrong"], by_kind["borderline"]
    assert correct[right.row] and right.confidence == pytest.approx(predictions.confidence[correct].max())
    assert not correct[wrong.row] and wrong.confidence == pytest.approx(predictions.confidence[~correct].max())
    free = np.setdiff1d(np.arange(len(correct)), [right.row, wrong.row])  # each row is chosen once, in kind order
    assert predictions.margin[border.row] == pytest.approx(predictions.margin[free].min())
    assert len({case.row for case in cancer_audit.cases}) == len(cancer_audit.cases)


def test_cases_without_labels_and_fewer_rows_than_asked():
    subject = Subject.create("tiny", nn.Linear(3, 2), Dataset(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), "tabular"))
    cases = choose_cases(predict(subject), per_kind=3)
    assert sorted(case.row for case in cases) == [0, 1, 2, 3]
    assert cases[0].kind == "most confident"


def test_trust_scores_the_methods_and_a_random_reference(cancer_audit):
    trust = cancer_audit.trust
    assert set(trust.scores.index) == {"kernel_shap", "saliency", "integrated_gradients", "random (reference)"}
    assert trust.higher_is_better["deletion"] is False and trust.higher_is_better["insertion"] is True
    # Kernel SHAP values explain the model's output: they beat a random ranking on both curves
    assert trust.beats_random("kernel_shap", "deletion") and trust.beats_random("kernel_shap", "insertion")
    assert trust.agreement.loc["kernel_shap", "kernel_shap"] == 1.0
    assert set(trust.sanity["check"]) == {"model_parameter_randomisation", "random_logit"}


def test_a_method_that_fails_a_sanity_check_is_named_in_the_findings(cancer_audit):
    failed = cancer_audit.trust.failed_sanity()
    warnings = [f.text for f in cancer_audit.findings if f.kind == "warning"]
    for method in failed:
        assert any(text.startswith(f"{method} fails the") for text in warnings)
    passed = set(cancer_audit.trust.sanity["method"]) - set(failed)
    assert not any(text.startswith(f"{method} fails the") for method in passed for text in warnings)


def test_a_dominant_input_is_flagged():
    """A linear model that reads almost only column 2: the global view ranks it first and the findings warn."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=generator)
    net = nn.Linear(5, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.0, 0.0, -3.0, 0.0, 0.0], [0.05, 0.0, 3.0, 0.05, 0.0]]))
        net.bias.zero_()
    labels = (x[:, 2] > 0).long()
    result = audit(net, Dataset(x, "tabular", labels=labels, feature_names=list("abcde")), methods=["kernel_shap"],
                   sanity=False, show_progress=False, **QUICK)
    assert result.global_view.importance["feature"].iloc[0] == "c"
    assert any(f.kind == "warning" and f.text.startswith("One input dominates: c") for f in result.findings)


def test_saved_results_and_report(cancer_audit, tmp_path, chromium_browser):
    paths = cancer_audit.save(tmp_path / "audit")
    results = json.loads(paths["results"].read_text())
    assert results["facts"]["quality"]["accuracy"] == pytest.approx(cancer_audit.facts["quality"]["accuracy"])
    import pandas as pd
    import unboxed

    assert len(pd.read_parquet(paths["global_importance"])) == 30
    reloaded = unboxed.load(paths["explanation kernel_shap"])
    np.testing.assert_array_equal(reloaded.values, cancer_audit.runs[0].result.values)
    page = open_in_browser(paths["report"], screenshot="audit-breast-cancer.png", browser=chromium_browser)
    assert not page.problems(), page.problems()
    assert page.section_ids == list(SECTIONS)
    assert page.image_count >= 4
    for finding in cancer_audit.findings:
        assert finding.text.split(":")[0] in page.text


def test_black_box_model_gets_only_output_methods():
    from sklearn.linear_model import LogisticRegression

    x = torch.randn(60, 4, generator=torch.Generator().manual_seed(1))
    labels = (x[:, 0] + x[:, 1] > 0).long()
    model = LogisticRegression().fit(x.numpy(), labels.numpy())
    result = audit(model, Dataset(x, "tabular", labels=labels), show_progress=False, **QUICK)
    assert result.methods == ["kernel_shap", "lime", "feature_ablation"]
    assert "model_parameter_randomisation" not in set(result.trust.sanity["check"])


def test_bad_inputs_are_clear():
    with pytest.raises(InputError, match="empty"):
        Subject.create("m", nn.Linear(3, 2), Dataset(torch.zeros(0, 3), "tabular"))
    with pytest.raises(InputError, match="cannot run on the data .*4 rows x 5 columns"):
        Subject.create("m", nn.Linear(3, 2), Dataset(torch.zeros(4, 5), "tabular"))
    with pytest.raises(InputError, match="output has shape"):
        Subject.create("m", nn.Sequential(nn.Linear(3, 4), nn.Unflatten(1, (2, 2))), Dataset(torch.zeros(4, 3), "tabular"))
    with pytest.raises(InputError, match="labels go up to class 5"):
        Subject.create("m", nn.Linear(3, 2), Dataset(torch.zeros(4, 3), "tabular", labels=torch.tensor([0, 1, 5, 1])))
    with pytest.raises(InputError, match="unknown method"):
        audit("breast_cancer_mlp", methods=["no_such_method"], show_progress=False)
    with pytest.raises(InputError, match="not a local attribution"):
        audit("breast_cancer_mlp", methods=["permutation_importance"], show_progress=False)


def test_command_line_audit_of_a_zoo_model(tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["audit", "--zoo", "breast_cancer_mlp", "--budget", "32", "--cases", "1",
                                      "--methods", "kernel_shap,saliency", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists() and (out / "results.json").exists()
    assert "report written to" in result.output and "kernel_shap" in result.output
    recorded = json.loads((out / "results.json").read_text())["command"]
    assert "audit" in recorded


@pytest.mark.parametrize("arguments, message", [
    (["--zoo", "no_such_model"], "unknown zoo model"),
    (["--model", "missing.onnx"], "--model needs --data"),
    (["--data", "x.csv"], "--data needs --model"),
    (["--zoo", "breast_cancer_mlp", "--methods", "nope"], "unknown method"),
])
def test_command_line_errors_are_one_line_and_exit_2(arguments, message, tmp_path):
    result = CliRunner().invoke(app, ["audit", *arguments, "--out", str(tmp_path / "o"), "--no-progress"])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0


@pytest.mark.slow
def test_make_demo_audits_the_bundled_models(tmp_path, chromium_browser):
    """`make demo`'s audits (breast cancer, German credit, EfficientNet on the photos) at a reduced budget:
    each report is written and opens clean in the browser; German credit's protected attributes are named."""
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--no-gallery", "--budget", "16", "--cases", "1",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    for name in ("breast_cancer_mlp", "german_credit_mlp", "efficientnet_lite0"):
        report = tmp_path / "audit" / name / "report.html"
        assert f"audit of {name}: {report}" in result.output
        page = open_in_browser(report, screenshot=f"demo-audit-{name}.png", browser=chromium_browser)
        assert not page.problems(), page.problems()
        assert page.section_ids == list(SECTIONS)
    credit = json.loads((tmp_path / "audit" / "german_credit_mlp" / "results.json").read_text())
    assert credit["facts"]["data"]["categorical columns"]


def test_regression_is_inferred_and_cases_follow_the_errors():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes()
    x, y = torch.tensor(data.data, dtype=torch.float32), torch.tensor(data.target, dtype=torch.float32)
    model = Ridge(alpha=0.1).fit(data.data, data.target)
    result = audit(model, Dataset(x, "tabular", labels=y, feature_names=list(data.feature_names)), show_progress=False,
                   **QUICK)
    assert result.subject.task == "regression"
    assert result.facts["quality"]["r2"] == pytest.approx(model.score(data.data, data.target), abs=1e-5)
    errors = np.abs(model.predict(data.data) - data.target)
    by_kind = {case.kind: case.row for case in result.cases}
    assert by_kind["largest error"] == int(np.argmax(errors)) and by_kind["smallest error"] == int(np.argmin(errors))
    assert result.global_view.importance["feature"].iloc[0] in ("bmi", "s5")  # the diabetes data's strongest predictors


def test_a_time_budget_becomes_samples_per_case():
    from unboxed.auditing.time_budget import parse_duration

    assert parse_duration("2m") == 120.0 and parse_duration("300") is None
    with pytest.raises(InputError, match="90s"):
        parse_duration("ten minutes")
    small = audit("breast_cancer_mlp", methods=["kernel_shap"], budget="1s", cases=1, global_rows=16, sanity=False,
                  show_progress=False)
    large = audit("breast_cancer_mlp", methods=["kernel_shap"], budget="60s", cases=1, global_rows=16, sanity=False,
                  show_progress=False)
    assert isinstance(small.settings.budget, int) and small.settings.budget < large.settings.budget
    assert any(note.startswith("budget 1s:") for note in small.notes)


def test_case_values_show_category_names():
    from unboxed.auditing.report import case_values

    result = audit("german_credit_mlp", methods=["feature_ablation"], cases=1, budget=16, global_rows=8, sanity=False,
                   show_progress=False)
    table = case_values(result)
    assert len(table.columns) == len(result.cases)
    assert set(table.loc["housing"]) <= {"rent", "own", "for free"}
    assert table.loc["duration months"].str.fullmatch(r"\d+").all()


def test_a_text_model_gets_every_check():
    """Texts go through every metric as texts: faithfulness (comprehensiveness, sufficiency), seed
    stability and the random-logit check, all scored per word."""
    result = audit("rotten_tomatoes_logreg", cases=1, budget=32, global_rows=8, show_progress=False)
    assert result.methods == ["kernel_shap", "lime", "feature_ablation"]
    assert {"comprehensiveness", "sufficiency", "seed_stability", "random_logit"} <= set(result.trust.scores.columns)
    assert set(result.trust.sanity["method"]) == set(result.methods)
    # a 2-class linear model: the other class's word values mirror the predicted class's
    assert (result.trust.sanity["similarity"] < -0.9).all()
