"""models.units.duration: the one formatter behind every runtime a user reads (pages, HTML, PDF, CLI)."""

import math

import pytest

from models.units import duration


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"),
    (0.00004, "< 0.1 ms"),
    (0.0042, "4.2 ms"),
    (0.00999, "10 ms"),  # 9.99 ms rounds to 10.0: written as the next unit, never "10.0 ms"
    (0.042, "42 ms"),
    (0.0999, "0.10 s"),
    (0.42, "0.42 s"),
    (3.14159, "3.14 s"),
    (9.999, "10.0 s"),  # never "10.00 s"
    (12.34, "12.3 s"),
    (89.9, "89.9 s"),
    (90, "1.5 min"),
    (424.939, "7.1 min"),  # the "424939 ms"
    (3599, "1 h 00 min"),  # 59.98 min rounds to 60.0: written in hours
    (3600, "1 h 00 min"),
    (3900, "1 h 05 min"),
    (2 * 3600 + 59 * 60 + 40, "3 h 00 min"),
    (27 * 3600, "27 h 00 min"),
])
def test_duration_reads_in_human_units(seconds, text):
    assert duration(seconds) == text


def test_duration_accepts_ints_and_numpy_floats():
    np = pytest.importorskip("numpy")
    assert duration(np.float32(0.5)) == "0.50 s"
    assert duration(np.int64(600)) == "10.0 min"


def test_duration_grows_with_the_span():
    """The written value never goes down as the span grows (checked on a fine grid across every unit)."""
    def value(text):
        if text.startswith("<"):
            return 0.0
        number, unit = text.rsplit(" ", 1)
        if unit == "min" and " h " in text:
            h, m = text.split(" h ")
            return int(h) * 3600 + int(m.split()[0]) * 60
        return float(number) * {"ms": 1e-3, "s": 1.0, "min": 60.0}[unit]

    spans = [10 ** (e / 50) for e in range(-250, 251)]  # 1e-5 s … 1e5 s
    values = [value(duration(s)) for s in spans]
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert all(math.isclose(v, s, rel_tol=0.06) for v, s in zip(values, spans) if s >= 1e-3)


@pytest.mark.parametrize("bad, says", [
    (-1, "cannot be negative"), (float("nan"), "finite"), (float("inf"), "finite"), ("soon", "number of seconds"),
    (None, "number of seconds"),
])
def test_duration_refuses_what_is_not_a_span(bad, says):
    with pytest.raises(ValueError, match=says):
        duration(bad)


def test_exports_write_runtimes_in_human_units():
    """The HTML and PDF exports say a 424.939 s run took "7.1 min", as the pages do (not "424.939 s")."""
    import hashlib
    import io

    import numpy as np
    import pypdf

    from explainers.core.explanation import Explanation
    from reports.html import to_html
    from reports.pdf import to_pdf
    from reports.report import HASH_OF_FILE, ModelIdentity, ReportItem, new_report

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    model = ModelIdentity("tiny", "hand-made", hashlib.sha256(b"w").hexdigest(), HASH_OF_FILE)
    slow = Explanation(rng.random((24, 32)), "occlusion", "image", "tiny", 3, "cat", runtime_s=424.939, n_forward=9)
    fast = Explanation(rng.random((24, 32)), "grad-cam", "image", "tiny", 3, "cat", runtime_s=0.0042, n_forward=1)
    report = new_report("timings", [ReportItem(slow, image, model), ReportItem(fast, image, model)])
    html = to_html(report)
    pdf = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(to_pdf(report))).pages)
    for text in (html, pdf):
        assert "7.1 min" in text and "4.2 ms" in text
        assert "424.939" not in text and "0.004 s" not in text
