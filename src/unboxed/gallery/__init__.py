"""The gallery: every registered attribution method on every zoo model, as pictures, raw files and a web page.

`build_gallery(out_dir)` writes, under `out_dir`:

- `<model>/grid.png`: rows are inputs, columns are the input and then each method (images:
  heat maps, with superpixel outlines for per-feature methods; tables: bar charts; texts:
  highlighted words);
- `<model>/<method>.npz`: the raw explanation (`unboxed.load` reads it back);
- `<model>/<method>.png` for global methods (permutation importance) over the held-out set, and
  for tables `waterfall.png` (one row) and `summary.png` (a beeswarm over many rows) of the
  first Shapley method that ran;
- `index.html`: one self-contained page (inline CSS, pictures linked relatively) with each
  method's taxonomy tags, settings, time, the completeness gap where the method has one, and
  the methods that were skipped on a model with the reason;
- whatever extra `sections` write (e.g. the watermark diagnosis case under `watermark/`),
  each linked from the top of the page.

`gallery_settings(method, zoo_model)` is the one place that decides how a method is run on a
zoo model (the CLI's `explain` uses it too): per-model settings that keep the demo fast, the
layer for methods that need one, and the model's background rows for methods that remove features.
"""
from .page import format_duration
from .run import MODELS, SAMPLES, Entry, Gallery, Section, attribution_methods, build_gallery, completeness_gap, explain_zoo
from .samples import pick_samples, probabilities, sample_labels, take
from .settings import LAYOUTS, SETTINGS, FromModel, NotApplicable, describe_setting, gallery_settings

__all__ = ["LAYOUTS", "MODELS", "SAMPLES", "SETTINGS", "Entry", "FromModel", "Gallery", "NotApplicable", "Section",
           "attribution_methods", "build_gallery", "completeness_gap", "describe_setting", "explain_zoo", "format_duration",
           "gallery_settings", "pick_samples", "probabilities", "sample_labels", "take"]
