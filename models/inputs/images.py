"""Turning files, PIL images and arrays into the one image form Lumen uses:
an H×W×3 uint8 RGB array, oriented as a person sees it (EXIF applied).

Every failure is an ``InputError`` with a sentence for the user.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from models.errors import InputError, reason, shown

MAX_PIXELS = 50_000_000
"""Images above this many pixels are refused (decompression-bomb guard)."""

MAX_TOTAL_PIXELS = 200_000_000
"""The most pixels Lumen decodes from one ZIP archive or report bundle, all its images together (600 MB as RGB):
counted from the images' headers before any is decoded."""

UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif")
PIL_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
"""The only decoders an upload reaches, whatever its name says: not PIL's forty (EPS would run Ghostscript)."""

# PIL's own guard would fire at 2 * MAX_IMAGE_PIXELS with a developer message;
# keep it above ours so that our check, with its sentence, always comes first.
Image.MAX_IMAGE_PIXELS = 4 * MAX_PIXELS


def _too_large(width: int, height: int) -> InputError:
    return InputError(
        f"This image is {width}×{height} = {width * height / 1e6:.1f} megapixels; "
        f"Lumen accepts images up to {MAX_PIXELS / 1e6:.0f} megapixels. "
        "Please downscale it and upload again."
    )


def _text_chunks_too_large(exc: BaseException) -> bool:
    """PIL's refusal of a PNG whose text chunks (iTXt, zTXt) unpack beyond its safety limits."""
    return isinstance(exc, ValueError) and any(
        phrase in str(exc).lower() for phrase in ("decompressed data too large", "too much memory used in text chunks"))


def open_image(data: bytes, formats=PIL_FORMATS, load: bool = False) -> Image.Image:
    """``data`` opened with only ``formats``' decoders (its header read; decoded too when ``load``, the first frame),
    or an ``InputError`` sentence: an image over ``MAX_PIXELS``, oversized PNG text chunks, an unknown or corrupt file."""
    return _guarded(lambda: _open(data, formats, load))


def _open(data: bytes, formats, load: bool) -> Image.Image:
    if not data:
        raise InputError("The file is empty (0 bytes); please upload an image file.")
    img = Image.open(io.BytesIO(data), formats=formats)
    if img.width * img.height > MAX_PIXELS:  # header only: nothing decoded yet
        raise _too_large(img.width, img.height)
    if load:
        img.seek(0)
        img.load()
    return img


def _guarded(step):
    """``step()`` with PIL's failures turned into Lumen sentences."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return step()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            f"This image declares more than {MAX_PIXELS / 1e6:.0f} megapixels, "
            "the most Lumen accepts; it may be a decompression bomb."
        ) from None
    except UnidentifiedImageError:
        raise InputError(
            "This file is not an image Lumen can read. "
            f"Supported formats: {', '.join(t.upper() for t in UPLOAD_TYPES)}."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if _text_chunks_too_large(exc):
            raise InputError(
                "The PNG's text metadata (iTXt/zTXt chunks) is larger than Lumen reads "
                f"({PngImagePlugin.MAX_TEXT_CHUNK / 2**20:g} MB a chunk, {PngImagePlugin.MAX_TEXT_MEMORY / 2**20:g} MB in all); "
                "save the image without its metadata and try again."
            ) from None
        raise InputError(f"The image file is truncated or corrupt and cannot be decoded ({reason(exc)}).") from None


def decode_image(data: bytes) -> np.ndarray:
    """Decode image file bytes (PNG, JPEG, WebP, BMP, TIFF, GIF's first frame)."""
    return to_rgb_array(open_image(data, load=True))


def check_total_pixels(sizes, what: str, advice: str = "Please send fewer or smaller images.") -> None:
    """Refuse, before decoding, images whose (width, height) ``sizes`` add up to over ``MAX_TOTAL_PIXELS``."""
    total = sum(w * h for w, h in sizes)
    if total > MAX_TOTAL_PIXELS:
        raise InputError(
            f"{what} would decode to {total / 1e6:,.0f} megapixels in all; Lumen decodes up to "
            f"{MAX_TOTAL_PIXELS / 1e6:,.0f} megapixels from one file. {advice}"
        )


def to_rgb_array(image) -> np.ndarray:
    """A PIL image or a numpy array (H×W, H×W×1, H×W×3, H×W×4) as H×W×3 uint8 RGB."""
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image)
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    raise InputError(f"Expected an image (PIL image or H×W×3 array), got {type(image).__name__}.")


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    if img.width * img.height > MAX_PIXELS:
        raise _too_large(img.width, img.height)
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I;16"):
        return _array_to_rgb(_to_uint8(np.asarray(img), top=65535))
    if img.mode in ("I", "F"):
        return _array_to_rgb(np.asarray(img))
    if img.mode == "CMYK" or img.mode == "YCbCr" or img.mode == "LAB" or img.mode == "HSV":
        img = img.convert("RGB")
    if img.mode != "RGB":
        # palette, grey, alpha: composite transparency onto white, as viewers show it
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InputError(f"An image array must be H×W, H×W×3 or H×W×4; got shape {arr.shape}.")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"The image has no pixels (shape {arr.shape}).")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise _too_large(arr.shape[1], arr.shape[0])
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray, top: float | None = None) -> np.ndarray:
    """Scale to 0..255; ``top`` is the input's full-scale value (guessed when None)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        top = top or (255 if arr.max(initial=0) <= 255 else 65535)
        return (arr.astype(np.float64) * (255.0 / top)).clip(0, 255).round().astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InputError("The image contains NaN or infinite values.")
        top = top or (1.0 if arr.max(initial=0.0) <= 1.0 else 255.0)
        return (arr.astype(np.float64) * (255.0 / top)).clip(0, 255).round().astype(np.uint8)
    raise InputError(f"Unsupported image array type {arr.dtype}.")


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an H×W×3 uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


MAX_ZIP_IMAGES = 200
MAX_ZIP_BYTES = 500_000_000  # uncompressed, all images together


def decode_zip(data: bytes) -> list[tuple[str, np.ndarray]]:
    """The images in a ZIP archive as (name, H×W×3 uint8), in name order; read in memory, nothing written.

    Entries that are not images by their extension (and folders, macOS resource forks)
    are skipped. A corrupt archive, one with no image, more than ``MAX_ZIP_IMAGES``
    images, more than ``MAX_ZIP_BYTES`` uncompressed (a zip bomb) or more than
    ``MAX_TOTAL_PIXELS`` by the images' headers (a pixel bomb) is refused with a
    sentence before anything is decoded; so is any image in it that does not decode, naming it.
    """
    import io
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = sorted(
            (info for info in archive.infolist()
             if info.filename and not info.is_dir() and "__MACOSX" not in info.filename
             and info.filename.rsplit(".", 1)[-1].lower() in UPLOAD_TYPES),
            key=lambda info: info.filename,
        )
    except Exception:  # noqa: BLE001 - BadZipFile, an unsupported version, a bad seek...: not readable
        raise InputError("The file is not a readable ZIP archive.") from None
    if not entries:
        raise InputError(f"The ZIP archive holds no images ({', '.join(UPLOAD_TYPES)}).")
    if len(entries) > MAX_ZIP_IMAGES:
        raise InputError(f"The ZIP archive holds {len(entries)} images; Lumen takes up to {MAX_ZIP_IMAGES} at once.")
    total = sum(info.file_size for info in entries)
    if total > MAX_ZIP_BYTES:
        raise InputError(
            f"The ZIP archive would unpack to {total / 1e6:,.0f} MB of images; the limit is {MAX_ZIP_BYTES / 1e6:,.0f} MB."
        )
    raws = []
    for info in entries:
        try:
            with archive.open(info) as member:
                raw = member.read(info.file_size + 1)  # the declared size can lie: never read past it
        except Exception as err:  # noqa: BLE001 - BadZipFile, zlib.error, a bad seek...: a damaged archive
            raise InputError(f"{shown(info.filename)} in the ZIP archive cannot be read ({reason(err)}).") from None
        if len(raw) > info.file_size:
            raise InputError(f"{shown(info.filename)} in the ZIP archive is larger than it declares; refused.")
        raws.append(raw)
    sizes = []
    for info, raw in zip(entries, raws):  # headers only: nothing is decoded until the total is known
        try:
            sizes.append(open_image(raw).size)
        except InputError as err:
            raise InputError(f"{shown(info.filename)} in the ZIP archive: {err}") from None
    check_total_pixels(sizes, f"The ZIP archive's {len(entries)} images")
    images = []
    for info, raw in zip(entries, raws):
        try:
            images.append((info.filename, decode_image(raw)))
        except InputError as err:
            raise InputError(f"{shown(info.filename)} in the ZIP archive: {err}") from None
    return images
