"""Bad and unusual image files: a correct result or one clear InputError each."""

import numpy as np
import pytest
from PIL import Image

from models.errors import InputError
from models.inputs.images import MAX_PIXELS, decode_image, to_rgb_array
from tests.conftest import encode


def rgb_image(h=20, w=30, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_png_round_trip_is_exact():
    arr = rgb_image()
    assert np.array_equal(decode_image(encode(Image.fromarray(arr), "PNG")), arr)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_common_formats_decode_to_rgb(fmt):
    arr = np.full((16, 24, 3), (200, 40, 90), dtype=np.uint8)
    out = decode_image(encode(Image.fromarray(arr), fmt))
    assert out.shape == (16, 24, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - arr).max() <= 12  # lossy formats / palette


def test_gif_takes_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    out = decode_image(data)
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 50


def test_zero_bytes():
    with pytest.raises(InputError, match="empty"):
        decode_image(b"")


def test_text_with_image_extension():
    with pytest.raises(InputError, match="not an image"):
        decode_image(b"hello, I am not a picture\n" * 20)


def test_truncated_jpeg():
    data = encode(Image.fromarray(rgb_image(200, 200)), "JPEG", quality=95)
    with pytest.raises(InputError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_one_pixel_image():
    out = decode_image(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    assert out.shape == (1, 1, 3) and tuple(out[0, 0]) == (10, 20, 30)


def test_decompression_bomb_is_refused_with_the_limit():
    side = int(np.sqrt(MAX_PIXELS)) + 100  # a little above the limit, tiny on disk
    data = encode(Image.new("1", (side, side)), "PNG")
    assert len(data) < 1_000_000
    with pytest.raises(InputError, match=f"{MAX_PIXELS / 1e6:.0f} megapixels"):
        decode_image(data)


def test_grayscale_becomes_three_equal_channels():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    out = decode_image(encode(Image.fromarray(grey, mode="L"), "PNG"))
    assert out.shape == (8, 8, 3)
    assert np.array_equal(out[..., 0], grey) and np.array_equal(out[..., 2], grey)


def test_rgba_is_composited_on_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    out = decode_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[3, 3]) == (255, 255, 255)


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (12, 12), (0, 255, 255, 0))  # pure red in CMYK
    out = decode_image(encode(cmyk, "JPEG", quality=100))
    assert out.shape == (12, 12, 3)
    r, g, b = out[6, 6].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_png_is_scaled_not_clipped():
    ramp = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
    img = Image.fromarray(ramp)
    data = encode(img, "PNG")
    assert Image.open(__import__("io").BytesIO(data)).mode.startswith("I")
    out = decode_image(data)
    expected = np.round(ramp / 257.0).astype(np.uint8)
    assert np.abs(out[..., 0].astype(int) - expected).max() <= 1
    assert 100 < out.mean() < 155  # a clipping conversion would make it nearly all white


def test_exif_orientation_is_applied():
    upright = rgb_image(20, 30)
    stored = Image.fromarray(np.rot90(upright, k=1).copy())  # stored turned 90° anticlockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = decode_image(encode(stored, "PNG", exif=exif))
    assert np.array_equal(out, upright)


@pytest.mark.parametrize(
    "arr",
    [np.zeros((5, 5), np.uint8), np.zeros((5, 5, 1), np.uint8), np.zeros((5, 5, 4), np.uint8), np.ones((5, 5, 3)) * 0.5],
)
def test_array_inputs_become_rgb_uint8(arr):
    out = to_rgb_array(arr)
    assert out.shape == (5, 5, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("bad", [np.zeros((5, 5, 2), np.uint8), np.zeros((0, 5, 3), np.uint8), "not an image"])
def test_wrong_arrays_and_types(bad):
    with pytest.raises(InputError):
        to_rgb_array(bad)


def _zip(entries: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_of_images_decodes_in_name_order_and_skips_the_rest():
    from models.inputs.images import decode_zip

    red = encode(Image.new("RGB", (5, 4), (255, 0, 0)), "PNG")
    blue = encode(Image.new("RGB", (3, 3), (0, 0, 255)), "JPEG")
    got = decode_zip(_zip({"b/blue.jpg": blue, "a.png": red, "notes.txt": b"hi", "__MACOSX/._a.png": b"x"}))
    assert [name for name, _ in got] == ["a.png", "b/blue.jpg"]
    assert got[0][1].shape == (4, 5, 3) and tuple(got[0][1][0, 0]) == (255, 0, 0)


def test_bad_zips_are_refused_with_a_sentence():
    from models.inputs.images import MAX_ZIP_BYTES, decode_zip

    with pytest.raises(InputError, match="not a readable ZIP"):
        decode_zip(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="no images"):
        decode_zip(_zip({"a.txt": b"text"}))
    with pytest.raises(InputError, match="broken.png"):
        decode_zip(_zip({"broken.png": b"\x89PNG not really"}))
    bomb = _zip({"bomb.png": b"\0" * (MAX_ZIP_BYTES + 1)})  # deflates to about half a megabyte
    with pytest.raises(InputError, match="would unpack"):
        decode_zip(bomb)
