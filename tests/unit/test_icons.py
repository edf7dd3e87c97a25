"""Icons render without an emoji font: the app and its pages use Streamlit's Material icons, and no emoji."""

import re
from pathlib import Path

import pytest
from streamlit.string_util import validate_material_icon

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
EMOJI = re.compile("[\U0001F000-\U0001FFFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")
ICON_ARG = re.compile(r"""\b(?:page_)?icon\s*=\s*["']([^"']*)["']""")
MATERIAL = re.compile(r":material/[a-z0-9_]+:")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_emoji_in_the_app_or_its_pages(path):
    found = [(n, line.strip()) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if EMOJI.search(line)]
    assert found == []


def test_every_icon_is_a_known_material_icon():
    icons = [m for path in SOURCES for m in ICON_ARG.findall(path.read_text(encoding="utf-8"))]
    icons += [m for path in SOURCES for m in MATERIAL.findall(path.read_text(encoding="utf-8"))]
    assert len(icons) >= 8  # the page icon and the seven pages' at least
    for icon in icons:
        assert icon.startswith(":material/"), icon
        assert validate_material_icon(icon) == icon  # raises on a name Streamlit does not know
