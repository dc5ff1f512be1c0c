"""Read a folder of pictures into an image Dataset: class names from subfolders, a model's preprocessing, pictures to show."""
from __future__ import annotations

import importlib
import warnings
from functools import reduce
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..dataset import Dataset
from ..errors import InputError

PRESETS = ("imagenet", "digits")
DIGITS_SIZE = 32  # zoo digits_cnn: (n, 1, 32, 32) grayscale in [0, 1]


def read_image_folder(
    path: str | Path, preset: str | None = None, transform: str | Callable | None = None,
    size: int | tuple[int, int] | None = None, class_names: Sequence[str] | None = None,
) -> Dataset:
    """Every picture in a folder (sorted by name) as an image Dataset.

    One level of subfolders gives class labels (their names, sorted, or in the order of `class_names`),
    like an ImageFolder; a flat folder gives no labels. Files that are not readable pictures are
    skipped, listed in `skipped` with the reason, and counted in a warning; hidden files are ignored.
    Grayscale and RGBA pictures become RGB first. Then:

    - `preset="imagenet"`: centre square crop, 224x224, the TF-Lite normalisation of the zoo's EfficientNet;
    - `preset="digits"`: grayscale 32x32 in [0, 1], (n, 1, 32, 32), like the zoo's digits CNN
      (light digits on a dark ground, as in its training data);
    - `transform`: a callable, or an import path 'package.module:function', taking an RGB picture
      (h, w, 3) in [0, 1] (resized to `size` first, if given) and returning a tensor (c, h, w);
    - none of these: RGB in [0, 1], (n, 3, h, w); pictures of different sizes need `size`.

    `display` shows inputs as RGB in [0, 1] (n, h, w, 3): by inverting a preset's normalisation, or,
    for a custom transform (which cannot be inverted), the originals resized to the transform's output.

    >>> import tempfile, os, skimage.io, skimage.data
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(folder, "cat"))
    >>> skimage.io.imsave(os.path.join(folder, "cat", "chelsea.png"), skimage.data.chelsea())
    >>> data = read_image_folder(folder, preset="imagenet")
    >>> tuple(data.inputs.shape), data.class_names, data.sample_names, data.display(data.inputs).shape
    ((1, 3, 224, 224), ['cat'], ['cat/chelsea.png'], (1, 224, 224, 3))
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"no folder at {folder}")
    files, skipped = _list_files(folder)
    pictures, kept = [], []
    for file, label in files:
        try:
            pictures.append(read_rgb(file))
            kept.append((file, label))
        except _Unreadable as reason:
            skipped.append(f"{file.relative_to(folder).as_posix()}: {reason}")
    if skipped:
        warnings.warn(f"{len(skipped)} file(s) in {folder} were skipped (not readable pictures); see Dataset.skipped", stacklevel=2)
    if not pictures:
        raise InputError(f"{folder} holds no readable picture ({len(skipped)} file(s) skipped)")
    inputs, display = _prepare(pictures, [file.name for file, _ in kept], preset, transform, size)
    labels, names = _labels([label for _, label in kept], class_names)
    return Dataset(
        inputs=inputs, layout="image", labels=labels, class_names=names, display=display,
        sample_names=[file.relative_to(folder).as_posix() for file, _ in kept], source=str(folder),
        skipped=skipped, facts={"pictures": len(pictures), "preset": preset},
    )


def read_rgb(file: Path) -> np.ndarray:
    """One picture as RGB float64 (h, w, 3) in [0, 1]; raises _Unreadable with the reason."""
    from skimage import color, io, util

    try:
        with warnings.catch_warnings():  # imageio probes every plugin on a non-picture, each one warning
            warnings.simplefilter("ignore")
            image = np.asarray(io.imread(file))
    except Exception as error:  # noqa: BLE001 -- every reader failure means "not a picture we can read"
        if "Could not find a backend" in str(error):
            raise _Unreadable("not a picture format scikit-image can read") from None
        raise _Unreadable(f"not a readable picture ({type(error).__name__}: {_first_line(error)})") from None
    if image.ndim == 4:  # an animation or a stack: its first frame
        image = image[0]
    if image.ndim == 3 and image.shape[-1] in (1, 2):  # gray, gray + alpha
        image = image[..., 0]
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1 or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise _Unreadable(f"not a picture (array of shape {image.shape})")
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
        raise _Unreadable(f"not a picture (values of type {image.dtype})")
    image = util.img_as_float64(image)
    if image.ndim == 2:
        image = color.gray2rgb(image)
    elif image.shape[-1] == 4:
        image = color.rgba2rgb(image)  # transparent parts on white, as a viewer shows them
    return np.clip(image, 0.0, 1.0)


def _list_files(folder: Path) -> tuple[list[tuple[Path, str | None]], list[str]]:
    """(file, class folder name or None) for every visible file; stray files and deeper folders are skipped."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    class_folders = [p for p in entries if p.is_dir()]
    if not class_folders:
        return [(p, None) for p in entries if p.is_file()], []
    files, skipped = [], [f"{p.name}: outside the class folders" for p in entries if p.is_file()]
    for class_folder in class_folders:
        for p in sorted(q for q in class_folder.iterdir() if not q.name.startswith(".")):
            if p.is_file():
                files.append((p, class_folder.name))
            else:
                skipped.append(f"{p.relative_to(folder).as_posix()}: folders inside class folders are not read")
    return files, skipped


def _prepare(pictures, names, preset, transform, size) -> tuple[torch.Tensor, Callable]:
    if preset is not None and transform is not None:
        raise InputError("give either preset= or transform=, not both")
    if preset is not None:
        if preset not in PRESETS:
            raise InputError(f"unknown image preset {preset!r}; choose from {', '.join(PRESETS)}")
        if size is not None:
            raise InputError(f"preset {preset!r} fixes the picture size; leave size= out")
        return _imagenet(pictures) if preset == "imagenet" else _digits(pictures)
    if transform is not None:
        return _transformed(pictures, names, _as_callable(transform), size)
    return _plain(pictures, size)


def _imagenet(pictures):
    from ..zoo.imagenet import _square, preprocess, to_display

    return preprocess([_square(picture) for picture in pictures]), to_display


def _digits(pictures):
    from skimage.color import rgb2gray

    gray = np.stack([_resize(rgb2gray(picture), (DIGITS_SIZE, DIGITS_SIZE)) for picture in pictures])
    inputs = torch.tensor(gray, dtype=torch.float32).clamp(0, 1)[:, None].contiguous()
    return inputs, _show_channels_first


def _plain(pictures, size):
    if size is not None:
        pictures = [_resize(picture, _pair(size)) for picture in pictures]
    shapes = sorted({picture.shape[:2] for picture in pictures})
    if len(shapes) > 1:
        raise InputError(f"the pictures have different sizes {shapes[:5]}; pass size=(height, width) (or a preset)")
    inputs = torch.tensor(np.stack(pictures), dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    return inputs, _show_channels_first


def _transformed(pictures, names, transform, size):
    if size is not None:
        pictures = [_resize(picture, _pair(size)) for picture in pictures]
    rows = []
    for picture, name in zip(pictures, names):
        try:
            rows.append(torch.as_tensor(transform(picture), dtype=torch.float32))
        except Exception as error:  # noqa: BLE001 -- the user's code: name the file, keep the cause chained
            raise InputError(f"transform {_name_of(transform)} failed on {name}: {_first_line(error)}") from error
    shapes = sorted({tuple(row.shape) for row in rows})
    if len(shapes) > 1 or len(shapes[0]) != 3:
        raise InputError(f"transform {_name_of(transform)} must return one tensor shape (c, h, w) for every picture, got {shapes[:5]}")
    inputs = torch.stack(rows)
    originals = np.stack([_resize(picture, tuple(inputs.shape[2:])) for picture in pictures])
    return inputs, OriginalsDisplay(inputs, originals)


class OriginalsDisplay:
    """Pictures for inputs made by a transform that cannot be inverted: the resized originals.

    An input is recognised by its exact values; one that is not among the loaded inputs (a perturbed
    copy) is shown by stretching its own channels to [0, 1].
    """

    def __init__(self, inputs: torch.Tensor, originals: np.ndarray):
        self._row_of = {_key(row): i for i, row in enumerate(inputs)}
        self.originals = originals

    def __call__(self, inputs: torch.Tensor) -> np.ndarray:
        return np.stack([self._picture(row) for row in inputs])

    def _picture(self, row: torch.Tensor) -> np.ndarray:
        found = self._row_of.get(_key(row))
        if found is not None:
            return self.originals[found]
        values = row.detach().cpu().double()
        values = values[:3] if len(values) >= 3 else values[:1].expand(3, -1, -1)
        low, high = values.min(), values.max()
        return ((values - low) / (high - low).clamp_min(1e-12)).permute(1, 2, 0).numpy()


def _labels(folders, class_names) -> tuple[torch.Tensor | None, list[str] | None]:
    if folders[0] is None:
        return None, None
    names = sorted(set(folders)) if class_names is None else [str(name) for name in class_names]
    unknown = sorted(set(folders) - set(names))
    if unknown:
        raise InputError(f"class folder(s) {unknown} are not among class_names {names}")
    return torch.tensor([names.index(folder) for folder in folders], dtype=torch.long), names


def _as_callable(transform) -> Callable:
    if callable(transform):
        return transform
    module_name, _, attribute = str(transform).partition(":")
    if not module_name or not attribute:
        raise InputError(f"transform must be a callable or 'package.module:function', got {transform!r}")
    try:
        found = reduce(getattr, attribute.split("."), importlib.import_module(module_name))
    except (ImportError, AttributeError) as error:
        raise InputError(f"cannot import transform {transform!r}: {_first_line(error)}") from None
    if not callable(found):
        raise InputError(f"transform {transform!r} is not a function")
    return found


def _show_channels_first(inputs: torch.Tensor) -> np.ndarray:
    """(n, 1 or 3, h, w) in [0, 1] -> RGB (n, h, w, 3)."""
    inputs = inputs.detach().cpu()
    if inputs.shape[1] == 1:
        inputs = inputs.expand(-1, 3, -1, -1)
    return inputs.permute(0, 2, 3, 1).clamp(0, 1).numpy()


def _resize(picture: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize

    if picture.shape[:2] == tuple(shape):
        return picture
    return resize(picture, shape, mode="edge", anti_aliasing=True)  # "edge": as torch.interpolate, zoo digits_cnn


def _pair(size) -> tuple[int, int]:
    pair = (size, size) if np.isscalar(size) else tuple(size)
    if len(pair) != 2 or any(int(s) != s or s < 1 for s in pair):
        raise InputError(f"size must be a positive int or (height, width), got {size!r}")
    return int(pair[0]), int(pair[1])


def _key(row: torch.Tensor) -> bytes:
    return row.detach().cpu().contiguous().numpy().tobytes()


def _name_of(function) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class _Unreadable(Exception):
    """A file that is not a picture we can read; the message says why."""
