"""Lumen from the command line: explain many inputs with many methods, export reports.

    python cli.py explain --model efficientnet-lite0 --methods grad-cam,sobol --input PATH_OR_FOLDER \\
        --html out.html --pdf out.pdf --bundle out.zip
    python cli.py list [--modality image] [--limits]
    python cli.py batch DATA --model vit-digits --method grad-cam --method rise --param rise.n_masks=200 --out DIR \\
        [--address HOST:PORT] [--workers N] [--limit N] [--no-metrics]

Inputs by the model's modality: images (a file, or a folder of them), texts and
prompts (a text file, one input per non-empty line), table rows (a CSV file with
the model's feature columns). The same library calls as the pages. Exit code 0 on
success; 2 on bad arguments or input, with one sentence on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
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
    ba = sub.add_parser("batch", help="explain every input of a dataset on Ray (resumable), results as Parquet")
    ba.add_argument("data", metavar="DATA", help="a folder or ZIP of images (class subfolders give labels), a CSV / "
                                                 "Parquet / .txt file of texts, a CSV / Parquet table, or a bundled "
                                                 "dataset: digits, tweets, breast_cancer")
    ba.add_argument("--model", required=True, help="an embedded model id (python cli.py list) or tabular:DATASET:KIND")
    ba.add_argument("--method", action="append", required=True, metavar="METHOD",
                    help="a method id (repeatable: one result set per method)")
    ba.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE",
                    help="a method parameter, e.g. rise.n_masks=200 (repeatable)")
    ba.add_argument("--out", required=True, help="the results directory (rerunning over it skips what is done)")
    ba.add_argument("--address", help="a Ray cluster to join, HOST:PORT (default: $RAY_ADDRESS, else a Ray on this "
                                      "machine)")
    ba.add_argument("--workers", type=int, help="how many workers (default: one per GPU, else one per CPU)")
    ba.add_argument("--limit", type=int, help="only the first N inputs (by path)")
    ba.add_argument("--batch-size", type=int, help="inputs per batch, and per part written")
    ba.add_argument("--no-metrics", action="store_true", help="no faithfulness figures (they cost many passes)")
    ba.add_argument("--metric-option", action="append", default=[], metavar="NAME=VALUE",
                    help="an option of the faithfulness figures, e.g. fill=blur (image); repeatable")
    ls = sub.add_parser("list", help="list embedded models and explainers")
    ls.add_argument("--modality")
    ls.add_argument("--limits", action="store_true", help="print every method parameter's limits as a Markdown table")
    return parser


def _value(text: str):
    if text.lstrip().startswith(("{", "[")):  # a dict or list, as JSON: responsiveness.actions={"age": {...}}
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--param value {text[:60]!r} starts like JSON but is not valid JSON ({exc.msg}).") from None
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


def metric_pairs(pairs: list[str]) -> dict:
    """--metric-option NAME=VALUE pairs as {name: value}."""
    options = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise UsageError(f"--metric-option '{pair}' must read NAME=VALUE")
        options[name] = _value(value)
    return options


def metric_options(pairs: list[str], modality: str) -> dict:
    """--metric-option NAME=VALUE pairs, checked against the modality's faithfulness options."""
    from explainers.core.modality import figure_options

    return figure_options(modality, metric_pairs(pairs))


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


@contextmanager
def _ray_noise_to(log: Path):
    """Everything written to this process's stderr (Ray's C++ core and its Python warnings) goes to ``log`` while
    the block runs, appended there at the end when ``log``'s folder exists (a bad command creates nothing); the
    terminal stream it yields is the real stderr, for the progress bar and the summary."""
    import shutil
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    python_stderr = sys.stderr
    direct = log.parent.is_dir()  # else a temporary file, kept only if the job creates the folder
    sink = open(log, "ab") if direct else tempfile.NamedTemporaryFile(prefix="lumen-job-", suffix=".log", delete=False)
    try:
        os.dup2(sink.fileno(), 2)
        sys.stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        yield terminal
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        terminal.flush()
        terminal.close()
        sink.close()
        if not direct:
            if log.parent.is_dir():
                with open(sink.name, "rb") as source, open(log, "ab") as target:
                    shutil.copyfileobj(source, target)
            os.unlink(sink.name)


def batch_command(args) -> int:
    from tqdm import tqdm

    from explainers.batch.job import run_job
    from models.errors import LumenError, reason
    from models.units import duration

    methods = list(dict.fromkeys(m.strip() for m in args.method if m.strip()))
    params = method_params(methods, args.param)
    for flag in ("workers", "limit", "batch_size"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1, not {getattr(args, flag)}")
    faithfulness = False if args.no_metrics else (metric_pairs(args.metric_option) or True)
    out = Path(args.out)
    bar = None
    with _ray_noise_to(out / "job.log") as terminal:
        def progress(done, total):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="explanation", file=terminal, smoothing=0.1,
                           desc=f"{len(methods)} method{'s' if len(methods) > 1 else ''}")
            bar.update(done - bar.n)

        try:
            summary = run_job(args.data, model=args.model, methods=params, out=out, address=args.address,
                              workers=args.workers, limit=args.limit, faithfulness=faithfulness,
                              batch_size=args.batch_size, progress=progress)
        except (LumenError, UsageError, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - a worker lost, a cluster gone: what was written stays
            print(f"cli.py: the job stopped ({reason(err)}); the parts written are kept: run the same command "
                  f"again to finish it. Ray's messages: {out / 'job.log'}", file=terminal)
            return 1
        finally:
            if bar is not None:
                bar.close()
        for note in summary.notes:
            print(f"cli.py: {note}", file=terminal)
    items = summary.done + summary.skipped
    print(f"done: {summary.done} explanation{'s' if summary.done != 1 else ''} in {duration(summary.seconds)}"
          f" ({summary.workers} worker{'s' if summary.workers != 1 else ''}); skipped as already done: "
          f"{summary.skipped}; errors: {len(summary.errors)} (of {items} inputs × methods)")
    by_sentence: dict[str, list[str]] = {}
    for path, sentence in summary.errors:  # one line per reason, naming its inputs (all of them are in the Parquet)
        by_sentence.setdefault(sentence, []).append(path)
    for sentence, paths in by_sentence.items():
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        print(f"error\t{sentence}\t{len(paths)} input{'s' if len(paths) != 1 else ''}: {shown}")
    for method, set_id in summary.sets.items():
        print(f"results\t{method}\t{out / set_id}")
    print(f"read them with pandas: pandas.read_parquet('{out / next(iter(summary.sets.values()))}/rows'), one row "
          f"per input; the maps: numpy.load('<set>/<map_part>')['<input_id>']; all sets: "
          f"explainers.batch.store.read_results('{out}'). Ray's messages: {out / 'job.log'}")
    return 0


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
        return {"explain": explain_command, "batch": batch_command, "list": list_command}[args.command](args)
    except (UsageError, LumenError) as err:
        print(f"cli.py: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cli.py: interrupted; what was written is kept (run the same command again to resume).", file=sys.stderr)
        return 130
    except OSError as err:  # unreadable input, unwritable output
        print(f"cli.py: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
