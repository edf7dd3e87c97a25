"""The image modality: an image (or a set of them, for concept methods) as H×W×3 uint8 RGB."""

from __future__ import annotations

from pathlib import Path

from explainers.core.modality import FigureOption, Modality, register_modality
from explainers.metrics import image as metrics
from models.errors import InputError
from models.inputs.images import UPLOAD_TYPES, decode_image, to_rgb_array


def prepare(x, model=None):
    """One image as an H×W×3 uint8 array; a list or tuple of images (CRAFT) as a list of them."""
    if isinstance(x, (list, tuple)):
        return [to_rgb_array(image) for image in x]
    return to_rgb_array(x)


def sizes(model, x, target=None, params=None) -> dict[str, int]:
    return {"n_images": len(x) if isinstance(x, (list, tuple)) else 1}


def faithfulness(model, image, e, fill=metrics.REGION_FILL, pixel_curves=False) -> dict:
    return metrics.image_faithfulness(model, image, e, fill=fill, pixel_curves=pixel_curves)


def faithfulness_many(model, image, explanations, fill=metrics.REGION_FILL, pixel_curves=False) -> list[dict]:
    return metrics.image_faithfulness_many(model, image, explanations, fill=fill, pixel_curves=pixel_curves)


def faithfulness_passes(model, sizes, fill=metrics.REGION_FILL, pixel_curves=False) -> int:
    return metrics.faithfulness_passes(model, pixel_curves=pixel_curves)


FAITHFULNESS_OPTIONS = {
    "fill": FigureOption(
        "Removed patches become", metrics.REGION_FILL, metrics.REGION_FILLS,
        "road: imputed from their neighbours with a little noise (ROAD, Rong et al. 2022), so the shape of what was "
        "removed tells the model little; zero: the mean colour; blur: a blurred copy; black."),
    "pixel_curves": FigureOption(
        "Also the RISE-paper pixel curves", False, (),
        "Pixel deletion and insertion (Petsiuk et al. 2018), 450 more passes per method at 224 px. Deleting scattered "
        "pixels makes inputs unlike any the model saw: on these curves a random map can look faithful."),
}


def read_path(path: Path, model, note=None) -> list[tuple[str, object]]:
    """An image file, or every image in a folder (by name)."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower().lstrip(".") in UPLOAD_TYPES) \
        if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path} holds no images ({', '.join(UPLOAD_TYPES)})")
    return [(p.name, decode_image(p.read_bytes())) for p in files]


def read_items(path: Path, model, note=None) -> list:
    """A dataset job's images: the files of a folder or ZIP archive (class subfolders give labels); a file that is
    not an image by its extension becomes an error item (decoding happens on the workers: ``load_item``)."""
    from explainers.batch.reader import file_items

    return file_items(path, UPLOAD_TYPES, "image")


def load_item(data: bytes, model=None):
    """An image file's bytes, decoded (PIL's safe decoders only, within the pixel limit) as H×W×3 uint8."""
    return decode_image(data)


IMAGE = register_modality(Modality(
    id="image",
    label="Image",
    prepare=prepare,
    sizes=sizes,
    default_methods=("grad-cam",),
    faithfulness=faithfulness,
    faithfulness_options=FAITHFULNESS_OPTIONS,
    faithfulness_many=faithfulness_many,
    faithfulness_passes=faithfulness_passes,
    # first: the headline (HEADLINE); the region figures, then the RISE-paper pixel ones (explainers/metrics/image.py)
    better={"srg": "higher", "morf_auc": "lower", "lerf_auc": "higher", "deletion_auc": "lower",
            "insertion_auc": "higher", "average_drop": "lower", "increase_in_confidence": "higher"},
    units={"average_drop": "%"},
    figures=("image_overlay", "neuron_path_ablation", "faithfulness_curves", "agreement_matrix"),
    read_path=read_path,
    read_items=read_items,
    load_item=load_item,
))
