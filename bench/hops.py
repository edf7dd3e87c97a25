"""How many of Lumen's modules an image crosses from upload to the on-screen heatmap, and on to the report.

Runs the real app in Streamlit's AppTest: uploads a JPEG on the image page, presses Run (the embedded
model is loaded and the input explained once beforehand, untraced, so loading is not counted), then adds the
explanation to the report, opens the Report page and exports the PDF and the bundle. A profiler records every
Python call whose code lives in Lumen's own files (app.py, cli.py, pages/, explainers/, models/, reports/).

Printed per path:
- modules: the Lumen files whose code ran;
- hops: distinct caller → callee pairs between two different Lumen files (a module boundary crossed);
- packages: the Lumen packages (pages, explainers/core, models/inputs, ...) whose code ran.

    python -m bench.hops [--list]

Works on any revision that has app.py with an image page and a report page, so a before/after is one checkout away.
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN = ("app.py", "cli.py", "pages/", "explainers/", "models/", "reports/", "views/")


def own(filename: str) -> str | None:
    try:
        rel = Path(filename).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return None
    return rel if rel.startswith(OWN) else None


class Trace:
    def __init__(self):
        self.modules: set[str] = set()
        self.edges: set[tuple[str, str]] = set()
        self.tokenised = 0  # calls of a Hugging Face tokenizer (``tokenizer(text)``)
        self.cleaned = 0  # calls of Lumen's text cleaning on ``self.text`` (not on labels shown on the page)
        self.text: str | None = None

    def __call__(self, frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        if code.co_name == "__call__" and code.co_filename.endswith("tokenization_utils_base.py"):
            self.tokenised += 1
        elif code.co_name == "clean_text" and self.text is not None:
            given = frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
            given = given.decode("utf-8", "replace") if isinstance(given, bytes) else given
            self.cleaned += isinstance(given, str) and given.strip() == self.text.strip()
        callee = own(frame.f_code.co_filename)
        if callee is None:
            return
        self.modules.add(callee)
        caller = frame.f_back
        while caller is not None and own(caller.f_code.co_filename) is None:
            caller = caller.f_back  # through library frames (Streamlit, torch) back to the Lumen code that called
        if caller is not None:
            source = own(caller.f_code.co_filename)
            if source != callee:
                self.edges.add((source, callee))

    def __enter__(self):
        sys.setprofile(self)
        threading.setprofile(self)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)
        threading.setprofile(None)

    def packages(self) -> set[str]:
        return {m.rsplit("/", 1)[0] if "/" in m else m for m in self.modules}

    def show(self, title: str, listing: bool) -> None:
        print(f"{title}: {len(self.modules)} modules, {len(self.edges)} hops, {len(self.packages())} packages")
        if listing:
            for m in sorted(self.modules):
                print(f"    {m}")


def jpeg() -> bytes:
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    try:
        from models.inputs.samples import sample_image
    except ImportError:  # the layout before subpackages
        from models.samples import sample_image
    buffer = io.BytesIO()
    Image.fromarray(sample_image("chelsea (cat)")).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def image_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.radio(key="image_source").set_value("Upload").run()
    return at


def upload_and_run(at, data: bytes) -> None:
    at.file_uploader[0].set_value(("cat.jpg", data, "image/jpeg")).run()
    at.button(key="run").click().run()


def pages() -> list[str]:
    """The page files as app.py names them (pages/*.py now; views/*.py before issue 15)."""
    import ast

    calls = [n for n in ast.walk(ast.parse((ROOT / "app.py").read_text())) if isinstance(n, ast.Call)]
    return [c.args[0].value for c in calls if getattr(c.func, "attr", None) == "Page" and c.args
            and isinstance(c.args[0], ast.Constant)]


def report_page() -> str:
    return next(f for f in pages() if f.endswith("report.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="list the modules of each path")
    args = parser.parse_args()
    data = jpeg()
    warm = image_page()
    upload_and_run(warm, data)  # loads and caches the model; explains once (untraced)
    assert not warm.exception, warm.exception

    at = image_page()
    with Trace() as heatmap:
        upload_and_run(at, data)
    assert not at.exception and any("heatmap" in c.proto.id for c in at.get("plotly_chart")), "no heatmap"
    heatmap.show("upload → heatmap (a JPEG uploaded, Run pressed)", args.list)

    add = next(b for b in at.button if b.key and b.key.startswith("add_report:"))
    with Trace() as report:
        add.click().run()
        at.switch_page(report_page()).run()
        assert not at.exception, at.exception
        from reports.bundle import write_bundle
        from reports.pdf import to_pdf
        from reports.report import new_report

        items = at.session_state["report_items"]
        to_pdf(new_report("hops", items))
        write_bundle(new_report("hops", items))
    report.show("heatmap → report (added; HTML on the page, PDF and bundle exported)", args.list)
    both = Trace()
    both.modules, both.edges = heatmap.modules | report.modules, heatmap.edges | report.edges
    both.show("upload → report, in all", args.list)

    # a text: how often it is cleaned and tokenised when the text page runs its default method
    from streamlit.testing.v1 import AppTest

    for trace in (False, True):  # the first run loads the model (and trains its head at first use), untraced
        text = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
        text.run()
        text.switch_page(next(p for p in pages() if p.endswith("text.py"))).run()
        methods = text.multiselect(key="text_methods").value
        with Trace() if trace else nullcontext() as tokens:
            if trace:
                tokens.text = text.text_area[0].value
            text.button(key="text_run").click().run()
        assert not text.exception, text.exception
    print(f"text page, Run with {', '.join(methods)}: the text cleaned {tokens.cleaned}×, "
          f"the tokenizer called {tokens.tokenised}×")


if __name__ == "__main__":
    main()
