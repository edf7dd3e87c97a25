"""Lumen from the command line: explain many inputs with many methods, export reports.

    python cli.py explain --model efficientnet-lite0 --methods grad-cam,sobol --input PATH_OR_FOLDER \\
        --html out.html --pdf out.pdf --bundle out.zip
    python cli.py list [--modality image] [--limits]

Inputs by the model's modality: images (a file, or a folder of them), texts and
prompts (a text file, one input per non-empty line), table rows (a CSV file with
the model's feature columns). The same library calls as the pages. Exit code 0 on
success; 2 on bad arguments or input, with one sentence on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

class UsageError(Exception):
    """Bad arguments or input: one sentence, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one sentence instead of argparse's usage dump
        raise UsageError(f"{message} (see: python cli.py {self.prog.split()[-1]} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cli.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ex = sub.add_parser("explain", help="explain inputs and export a report")
    ex.add_argument("--model", required=True, help="an embedded model id (python cli.py list) or SOURCE:NAME")
    ex.add_argument("--weights", help="weights file for a timm:/torchvision: model")
    ex.add_argument("--labels", help="class names file (.txt or .json)")
    ex.add_argument("--methods", help="comma-separated method ids (default: the model's default method, "
                                      "as on the pages)")
    ex.add_argument("--input", required=True, help="an image file or folder, a text file of lines, or a CSV")
    ex.add_argument("--target", help="class label or index to explain (default: each input's top class); "
                                     "for generation, the continuation text")
    ex.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE",
                    help="a method parameter, e.g. rise.n_masks=500 (repeatable)")
    ex.add_argument("--metrics", action="store_true", help="add faithfulness figures (costs many passes)")
    ex.add_argument("--metric-option", action="append", default=[], metavar="NAME=VALUE",
                    help="an option of the faithfulness figures, e.g. pixel_curves=true (image), "
                         "removal=attention-mask (text); repeatable")
    ex.add_argument("--title", default="Lumen report")
    ex.add_argument("--html", help="write a self-contained HTML report here")
    ex.add_argument("--pdf", help="write a PDF report here")
    ex.add_argument("--bundle", help="write a ZIP bundle (JSON + NPZ + PNG + manifest) here")
    ex.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    ls = sub.add_parser("list", help="list embedded models and explainers")
    ls.add_argument("--modality")
    ls.add_argument("--limits", action="store_true", help="print every method parameter's limits as a Markdown table")
    return parser


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def method_params(methods: list[str], pairs: list[str]) -> dict[str, dict]:
    params: dict[str, dict] = {m: {} for m in methods}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        method, dot, name = key.rpartition(".")
        if not eq or not dot or method not in params:
            raise UsageError(f"--param '{pair}' must read METHOD.NAME=VALUE with METHOD among --methods")
        params[method][name] = _value(value)
    return params


def metric_options(pairs: list[str], modality: str) -> dict:
    """--metric-option NAME=VALUE pairs, checked against the modality's faithfulness options."""
    from explainers.core.modality import figure_options

    options = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise UsageError(f"--metric-option '{pair}' must read NAME=VALUE")
        options[name] = _value(value)
    return figure_options(modality, options)


def read_inputs(path: Path, model) -> list[tuple[str, object]]:
    """(name, input) pairs from ``path`` for ``model``, read as its modality spec says."""
    from explainers import get_modality

    if not path.exists():
        raise UsageError(f"{path} does not exist")
    return get_modality(model.modality).read_path(path, model, lambda note: print(f"cli.py: {note}", file=sys.stderr))


def explain_command(args) -> int:
    from tqdm import tqdm

    from explainers import default_method, explain, get_method, get_modality
    from explainers.core.modality import faithfulness_many
    from models import load_model
    from models.units import duration

    model = load_model(args.model, device=args.device, weights=args.weights, labels=args.labels) \
        if (args.weights or args.labels) else load_model(args.model, device=args.device)
    methods = [m.strip() for m in (args.methods or default_method(model)).split(",") if m.strip()]
    for m in methods:
        get_method(m, model.modality)  # unknown ids fail before any work
    params = method_params(methods, args.param)
    options = metric_options(args.metric_option, model.modality)
    inputs = read_inputs(Path(args.input), model)
    kind = get_modality(model.modality)
    target = _value(args.target) if args.target is not None and kind.target_kind == "class" else args.target

    from reports.report import has_prediction, make_item, model_identity, new_report

    identity = model_identity(model, args.model, args.weights)
    items = []
    with tqdm(total=len(inputs) * len(methods), unit="explanation", file=sys.stderr) as bar:
        for name, x in inputs:
            prepared = kind.prepare(x, model)  # once per input, for every method and metric
            prediction = model.predict(x) if has_prediction(model, x) else None  # once per input, not per method
            explained = []
            for method in methods:
                bar.set_description(f"{name}: {method}")
                explained.append(explain(model, prepared, method=method, target=target, **params[method]))
                bar.update(1)
            if args.metrics:  # every map of this input measured together (their passes batched)
                bar.set_description(f"{name}: faithfulness")
                faithfulness_many(model, prepared, explained, **options)
            items += [make_item(model, x, e, source=args.model, weights=args.weights, input_name=name,
                                identity=identity, prediction=prediction) for e in explained]
    report = new_report(args.title, items, device=str(model.device))
    written = _export(report, args)
    for item in items:
        e = item.explanation
        print(f"{item.input_name}\t{e.method}\t{e.target_label}\t{duration(e.runtime_s)}\t"
              f"{e.n_forward} forward + {e.n_backward} backward")
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _export(report, args) -> list[str]:
    from reports.bundle import write_bundle
    from reports.html import to_html
    from reports.pdf import to_pdf

    written = []
    for path, make in ((args.html, lambda: to_html(report).encode("utf-8")), (args.pdf, lambda: to_pdf(report)),
                       (args.bundle, lambda: write_bundle(report))):
        if path:
            Path(path).write_bytes(make())
            written.append(path)
    return written


def list_command(args) -> int:
    from explainers import get_method, list_explainers, list_modalities
    from models import describe_model, list_models

    modalities = [args.modality] if args.modality else list_modalities()
    if args.limits:
        from explainers.core.budget import limits_table

        print(limits_table((kind, get_method(method, kind)) for kind in modalities for method in list_explainers(kind)))
        return 0
    for name in list_models(args.modality):
        print(f"model\t{name}\t{describe_model(name)}")
    for modality in modalities:
        print(f"methods\t{modality}\t{' '.join(list_explainers(modality))}")
    return 0


def main(argv=None) -> int:
    from models.errors import LumenError

    try:
        args = _parser().parse_args(argv)
        return explain_command(args) if args.command == "explain" else list_command(args)
    except (UsageError, LumenError) as err:
        print(f"cli.py: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # unreadable input, unwritable output
        print(f"cli.py: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
