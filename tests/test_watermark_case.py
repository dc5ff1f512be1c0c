"""The watermark diagnosis case: methods that explain the shortcut model put their relevance on the tag, the clean twin's do not."""
import html
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import unboxed
from unboxed.cli import app
from unboxed.evaluate import RelevanceMassAccuracy, watermark_case
from unboxed.evaluate import diagnosis


@pytest.fixture(scope="module")
def case():
    return watermark_case(methods=["integrated_gradients", "grad_cam"], n_images=8)


@pytest.mark.parametrize("method, factor", [("integrated_gradients", 20), ("grad_cam", 3)])
def test_relevance_mass_is_far_above_the_tag_area_on_the_watermark_model_only(case, method, factor):
    assert case.area == pytest.approx(16 / 1024)
    mass = case.table.loc[method, "relevance_mass_accuracy"]
    assert mass["watermark"] > factor * case.area  # far above the share of the image the tag covers
    assert mass["clean"] < case.area  # no more than its share of the picture
    per_image = case.scores.query("method == @method and metric == 'relevance_mass_accuracy'")
    assert len(per_image) == 2 * 8 and per_image.score.between(-1e-12, 1 + 1e-12).all()


def test_integrated_gradients_reveals_the_shortcut_and_points_at_the_tag(case):
    row = case.table.loc["integrated_gradients"]
    assert case.reveals["integrated_gradients"] == "yes" and case.summary().at["integrated_gradients", "reveals shortcut"] == "yes"
    assert row["relevance_rank_accuracy", "watermark"] > 0.5 > row["relevance_rank_accuracy", "clean"]
    assert row["pointing_game", "watermark"] > row["pointing_game", "clean"]


def test_scores_are_the_localisation_metric_on_positive_relevance(case):
    watermark = unboxed.zoo.load("digits_watermark")
    images = watermark.inputs[watermark.labels == watermark.watermark_class][:8]
    assert torch.equal(case.images, images)
    values = torch.as_tensor(unboxed.get_method("integrated_gradients")(watermark.clean.model).explain(images, target=0).values)
    positive = values.clamp(min=0)
    expected = RelevanceMassAccuracy().evaluate(watermark.clean.model, images, target=0, explanation=positive,
                                                mask=watermark.watermark_mask.expand(8, 32, 32)).scores
    ours = case.scores.query("method == 'integrated_gradients' and model == 'clean' and metric == 'relevance_mass_accuracy'")
    np.testing.assert_allclose(ours.score.to_numpy(), expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(case.maps["clean"]["integrated_gradients"], positive[:, 0].numpy(), rtol=1e-6)


def test_the_section_states_the_area_and_links_files_that_exist(tmp_path, case):
    section = case.html(tmp_path / "watermark", tmp_path)
    assert "1.6%" in section and "reveals shortcut" in section
    links = set(re.findall(r"(?:href|src)='([^']+)'", section))
    assert {"watermark/maps.png", "watermark/scores.png", "watermark/watermark.csv"} <= links
    assert all((tmp_path / html.unescape(link)).is_file() for link in links)
    written = (tmp_path / "watermark" / "watermark.csv").read_text()
    assert written.splitlines()[0].startswith("method,mass (watermark),mass (clean)")
    assert case.to_text().splitlines()[-1].startswith("tag area fraction: 0.0156")


def test_unknown_methods_are_clear_errors():
    with pytest.raises(unboxed.InputError, match="did you mean saliency"):
        watermark_case(methods=["saliencyy"])
    with pytest.raises(unboxed.InputError, match="non-empty list"):
        watermark_case(methods="saliency")


def test_demo_links_the_watermark_case_from_the_index(tmp_path, monkeypatch):
    monkeypatch.setattr(diagnosis, "METHODS", ("saliency", "grad_cam"))
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--model", "breast_cancer_mlp", "--method", "saliency",
                                      "--samples", "1", "--no-progress", "--no-audits"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "href='#watermark'" in page and "<h2 id='watermark'>" in page
    assert "src='watermark/maps.png'" in page and (tmp_path / "watermark" / "maps.png").is_file()
    without = tmp_path / "without"
    result = CliRunner().invoke(app, ["demo", "--out", str(without), "--model", "breast_cancer_mlp", "--method", "saliency",
                                      "--samples", "1", "--no-progress", "--no-watermark", "--no-audits"])
    assert result.exit_code == 0 and "watermark" not in (without / "index.html").read_text(encoding="utf-8")
