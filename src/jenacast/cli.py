"""The `jenacast` command line: parse, call the library, print.

Errors a person can cause end with one sentence on stderr and exit status 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from jenacast import __version__
from jenacast.errors import JenacastError


def _cmd_data_download(args: argparse.Namespace) -> int:
    from jenacast.data import jena

    info = jena.download(mirrors=args.mirror or jena.MIRRORS, progress=not args.quiet, force=args.force)
    print(f"{info.csv_path}\nrows    {info.rows:,}\nsha256  {info.sha256}\nfrom    {info.url}")
    return 0


def _cmd_data_info(args: argparse.Namespace) -> int:
    from jenacast.data import jena
    from jenacast.data.options import DataOptions
    from jenacast.data.select import open_dataset
    from jenacast.data.summary import describe, format_description

    if args.path is None:
        if _table_options_given(args):
            raise JenacastError("--time-column, --target, --features and --missing need a table's PATH.")
        jena.load_jena(download_if_missing=False)  # not cached: one sentence, and no download
        options = DataOptions(dataset="jena", lookback=args.lookback, step=args.step, horizon=args.horizon)
    else:
        options = DataOptions(**{**vars(DataOptions.pick(args)), "dataset": args.path})
    info = describe(open_dataset(options, progress=False))
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from jenacast.data import generate_synthetic, write_csv
    from jenacast.data.synthetic import MAX_YEARS, MIN_YEARS

    if not MIN_YEARS <= args.years <= MAX_YEARS:
        raise JenacastError(f"--years must be a number from {MIN_YEARS} to {MAX_YEARS:,}, got {args.years}.")
    table = generate_synthetic(args.seed, years=args.years)
    digest = write_csv(table, args.out)
    print(f"{args.out}\nrows    {len(table):,}\nsha256  {digest}")
    return 0


def _positive(kind: type, noun: str):
    """An argparse type: a number of ``kind`` above zero, else a usage error naming what was given."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {noun}, got {text!r}")
        return value

    return parse


_positive_int = _positive(int, "integer")
_positive_float = _positive(float, "number")


def _names(allowed_of, noun: str):
    """An argparse type: a comma-separated list of names from ``allowed_of()``, else a usage error."""

    def parse(text: str) -> tuple[str, ...]:
        allowed = allowed_of()
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {noun} {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
            )
        return names

    return parse


def _model_names() -> tuple[str, ...]:
    from jenacast.models import MODELS

    return tuple(MODELS)


def _bench_backends() -> tuple[str, ...]:
    from jenacast.rnn.ops import TIERS

    return (*TIERS, "torch")


_model_list = _names(_model_names, "model")
_backend_list = _names(_bench_backends, "backend")


def _say(args: argparse.Namespace):
    from tqdm.auto import tqdm

    return (lambda _msg: None) if args.quiet or args.json else (lambda msg: tqdm.write(msg))


def _cmd_train(args: argparse.Namespace) -> int:
    from datetime import datetime

    from jenacast.data.options import DataOptions
    from jenacast.data.select import open_dataset
    from jenacast.evaluate import baseline_mae
    from jenacast.report.plots import draw_run_curves
    from jenacast.training import TrainConfig, fit

    def settings(dataset_name: str) -> TrainConfig:
        data = {**vars(DataOptions.pick(args)), "dataset": dataset_name}
        return TrainConfig(
            model=args.model,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            patience=args.patience,
            seed=args.seed,
            device=args.device,
            backend=args.backend,
            max_batches=args.max_batches,
            **data,
        )

    wanted = settings(args.dataset)  # bad options are reported before any data is read
    out = args.out or Path("runs") / f"{args.model}-{datetime.now():%Y%m%d-%H%M%S}"
    say = _say(args)
    dataset = open_dataset(wanted.data_options(), progress=not args.quiet)
    config = settings(dataset.name)  # what "auto" resolved to, or the file's full path
    say(
        f"training {args.model} on {dataset.name} ({len(dataset.table):,} rows) into {out}"
        + (f"; {dataset.note}" if dataset.note else "")
    )
    if note := dataset.loading_note():
        say(f"{dataset.name}: {note}")
    splits = dataset.splits
    try:
        metrics = fit(
            config,
            splits,
            dataset.info(),
            out,
            resume=args.resume,
            force=args.force,
            progress=not (args.quiet or args.json),
            say=say,
            cuda_graph=args.cuda_graph,
        )
    except KeyboardInterrupt:
        print(
            f"jenacast: interrupted; continue with: jenacast train {args.model} --out {out} --resume (and the "
            "same options)",
            file=sys.stderr,
        )
        return _interrupted_status()
    draw_run_curves(out, None if args.max_batches else baseline_mae(splits.val))
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(
            f"{out}: best epoch {metrics['best_epoch']}, val MAE {metrics['best_val_mae']:.3f}, test MAE "
            f"{metrics['test_mae']:.3f}"
        )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from jenacast.training import evaluate_run

    if args.intervals:
        from jenacast.forecast.run import check_request, evaluate_intervals, format_intervals

        check_request(args.samples, args.levels)  # before the evaluation's minutes
    result = evaluate_run(args.run_dir, device=args.device)
    if args.intervals:
        result["intervals"] = evaluate_intervals(args.run_dir, **_sampling(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['model']} (epoch {result['epoch']}): val MAE {result['val_mae']:.3f}, test MAE "
        f"{result['test_mae']:.3f}"
    )
    if args.intervals:
        print(format_intervals(result["intervals"]))
    return 0


def _cmd_forecast(args: argparse.Namespace) -> int:
    from jenacast.forecast.run import forecast
    from jenacast.report.plots import plot_forecast

    result = forecast(_forecast_run(args.run_dir, args.model), dataset=args.dataset, at=args.at, **_sampling(args))
    if args.plot:
        plot_forecast(result, args.plot)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "observed"}, indent=2))
        return 0
    print(
        f"{result['model']}: {result['target']} at {result['time']} ({result['last_observation']} + horizon): "
        f"{result['point']:.2f} (Monte Carlo mean {result['mc_mean']:.2f}, {result['samples']} samples)"
    )
    for method, levels in result["intervals"].items():
        print(
            f"  {method:<10} "
            + "  ".join(f"{level}%: [{low:.2f}, {high:.2f}]" for level, (low, high) in levels.items())
        )
    if result["note"]:
        print(f"  ({result['note']})")
    if args.plot:
        print(f"  plot: {args.plot}")
    return 0


def _sampling(args: argparse.Namespace) -> dict:
    """The Monte Carlo options `evaluate --intervals` and `forecast` share."""
    return {
        "samples": args.samples,
        "levels": args.levels,
        "seed": args.seed,
        "device": args.device,
        "progress": not args.json,
    }


def _forecast_run(folder: Path, model: str | None) -> Path:
    """A run folder as given, or in a chapter folder the run of ``model`` (default the best by validation)."""
    results = folder / "results.json"
    if not results.exists():
        if model is not None:
            raise JenacastError(f"--model is for a chapter folder; {folder} holds no results.json.")
        return folder
    try:
        models = {name: m for name, m in json.loads(results.read_text())["models"].items() if name != "baseline"}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise JenacastError(f"{results} is damaged; run the chapter again to rewrite it.") from None
    if not models:
        raise JenacastError(f"{folder} holds no trained model (its results.json lists the baseline alone).")
    if model is None:
        model = min(models, key=lambda name: models[name]["val_mae"])
    elif model not in models:
        raise JenacastError(f"{folder} holds no {model!r} run; it holds {', '.join(models)}.")
    return folder / "runs" / model / "seed-0"


def _cmd_chapter(args: argparse.Namespace) -> int:
    from jenacast.chapter import ChapterOptions, run_chapter
    from jenacast.data.options import DataOptions
    from jenacast.models import MODELS

    options = ChapterOptions(
        data=DataOptions.pick(args),
        mode=args.mode,
        seeds=args.seeds,
        force=args.force,
        models=args.models or tuple(MODELS),
        out=args.out,
        epochs=args.epochs,
        device=args.device,
        backend=args.backend,
        cuda_graph=args.cuda_graph,
        intervals=args.intervals,
        samples=args.samples,
        ray=args.ray,
        threads=args.threads,
        gpus_per_run=args.gpus_per_run,
    )
    try:
        results = run_chapter(options, progress=not (args.quiet or args.json), say=_say(args))
    except KeyboardInterrupt:
        print(
            f"jenacast: interrupted; the same command continues where it stopped (runs in {args.out / 'runs'})",
            file=sys.stderr,
        )
        return _interrupted_status()
    if args.json:
        print(json.dumps(results, indent=2))
    elif args.quiet:
        print(args.out / "report.md")
    else:
        from jenacast.report.chapter import book_numbers_apply, format_table

        print(format_table(results))
        lessons = results["lessons"]
        if results["settings"]["mode"] == "smoke":
            print("\nSmoke mode: these numbers only show that every model runs; the lessons are not judged.")
        elif lessons:
            print(
                f"\nThe chapter's lessons: {sum(c['holds'] for c in lessons)} of {len(lessons)} hold "
                f"({args.out / 'report.md'}"
                + (" has the book's numbers beside them)" if book_numbers_apply(results["dataset"]) else ")")
            )
            for c in lessons:
                print(f"  {'holds' if c['holds'] else 'FAILS'}  {c['model']} {c['criterion']}: {c['result']}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from jenacast.data.options import DataOptions
    from jenacast.distributed.sweep import SweepOptions, run_sweep

    options = SweepOptions(
        model=args.model,
        space=args.space,
        samples=args.samples,
        scheduler=args.scheduler,
        metric=args.metric,
        ray=args.ray,
        out=args.out,
        resume=args.resume,
        epochs=args.epochs,
        max_batches=args.max_batches,
        seed=args.seed,
        threads=args.threads,
        gpus_per_trial=args.gpus_per_trial,
        device=args.device,
        backend=args.backend,
        cuda_graph=args.cuda_graph,
        data=DataOptions.pick(args),
    )
    try:
        summary = run_sweep(options, progress=not (args.quiet or args.json), say=_say(args))
    except KeyboardInterrupt:
        print(f"jenacast: interrupted; the same command continues the sweep in {args.out}", file=sys.stderr)
        return _interrupted_status()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    best = summary["best"]
    counts = {s: sum(t["status"] == s for t in summary["trials"]) for s in ("finished", "stopped", "failed")}
    print(f"{len(summary['trials'])} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if best:
        settings = ", ".join(f"{k} {v}" for k, v in sorted(best["params"].items()))
        print(f"best: {settings}: {summary['metric']} {best[summary['metric']]:.4f} (run {best['run']})")
    print(f"table: {args.out / 'trials.md'}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from jenacast.bench import DEFAULT_MODELS, run_bench
    from jenacast.rnn.ops import available, install_hint
    from jenacast.training.trainer import resolve_device

    device = resolve_device(args.device)
    default = ("triton", "fwbw", "torch") if device.type == "cuda" else ("cpu", "fwbw", "torch")
    backends = args.backends or tuple(b for b in default if b == "torch" or available(b))
    missing = [b for b in backends if b != "torch" and not available(b)]
    if missing:
        raise JenacastError(f"backend {missing[0]} is not installed here: {install_hint(missing[0])}.")
    say = (lambda _m: None) if args.json else print
    if device.type == "cuda":
        setting = "steps as CUDA graphs" if args.cuda_graph else "eager steps"
        if "triton" in backends:
            import triton

            from jenacast.rnn.ops import tuning

            kernels = tuning.current().triton_layout or "rows up to 32 units"
            setting = f"Triton {triton.__version__}, {kernels} kernels, {setting}"
        say(
            f"jenacast bench on {torch.cuda.get_device_name(device)} (torch {torch.__version__}, {setting}): "
            "ms per training batch of 256 x 120 x 14"
        )
    else:
        say(
            f"jenacast bench on cpu (torch {torch.__version__}, {torch.get_num_threads()} threads): "
            "ms per training batch of 256 x 120 x 14"
        )
    results = run_bench(
        args.models or DEFAULT_MODELS, backends, device, repeats=args.repeats, cuda_graph=args.cuda_graph, say=say
    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    from jenacast.rnn import BACKENDS

    parser.add_argument(
        "--dataset",
        default="auto",
        metavar="auto|jena|synthetic|PATH",
        help="auto (default): the real data when cached or downloadable, else the synthetic dataset; or a "
        "station's table (CSV, .csv.gz, .zip or Parquet: see the table options)",
    )
    _add_table_options(parser)
    parser.add_argument("--device", default="auto", help="auto (default: cuda when available), cpu or cuda")
    parser.add_argument(
        "--backend", default="auto", choices=BACKENDS, help="recurrent-op implementation (default auto)"
    )
    parser.add_argument(
        "--clean-wind", action="store_true", help="replace the -9999 wind sentinels by 0 (the book keeps them)"
    )
    _add_graph_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    """How a station's own table is read and windowed (``DataOptions``); the window options apply to all data."""
    group = parser.add_argument_group(
        "a station's table and the window",
        "Any CSV (commas, semicolons or tabs; .csv, .csv.gz, .zip) or Parquet file with a time column and numeric "
        "columns. Rows are sorted, de-duplicated (the later row wins) and put on the data's median interval; "
        "short gaps are interpolated in time; windows that touch a longer gap are dropped.",
    )
    group.add_argument(
        "--time-column",
        metavar="NAME",
        help="the time column (default: the one column that parses as dates, or year/month/day/hour columns); "
        "zone-aware times become UTC",
    )
    group.add_argument("--target", metavar="NAME", help="the column to forecast (default 'T (degC)')")
    group.add_argument(
        "--features",
        type=_column_list,
        metavar="A,B,...",
        help="the input columns (default: every numeric column; text, constant and mostly missing ones are left "
        "out and named); the target is always one",
    )
    group.add_argument(
        "--missing",
        type=_column_list,
        default=(),
        metavar="X[,Y]",
        help="values or cell texts that mean missing, e.g. -9999 or --- (empty cells, NA, NaN and null always do)",
    )
    group.add_argument(
        "--max-gap", default="3h", metavar="DURATION", help="fill gaps up to this long by interpolation (default 3h)"
    )
    group.add_argument(
        "--lookback", default="120h", metavar="DURATION", help="history each window reads (default 120h, the book's)"
    )
    group.add_argument(
        "--step", default="1h", metavar="DURATION", help="time between a window's readings (default 1h, the book's)"
    )
    group.add_argument(
        "--horizon",
        default="24h",
        metavar="DURATION",
        help="how far after the last reading the target lies (default 24h, the book's)",
    )


def _column_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got {text!r}")
    return names


def _number_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(n) for n in text.split(",") if n.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def _table_options_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name) not in (None, ()) for name in ("time_column", "target", "features", "missing"))


def _add_graph_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-cuda-graph",
        dest="cuda_graph",
        action="store_false",
        help="on a GPU, launch every training step's kernels one by one instead of replaying the step "
        "as one captured CUDA graph (the same training; the graph saves the launch overhead)",
    )


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (exit status 2), pointing at --help instead of printing the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jenacast",
        description="The advanced-RNN chapter of Deep Learning with Python (Jena temperature forecasting), "
        "reproducible and fast.",
    )
    parser.add_argument("--version", action="version", version=f"jenacast {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_data_parsers(commands)
    _add_train_parser(commands)
    _add_evaluate_parser(commands)
    _add_forecast_parser(commands)
    _add_chapter_parser(commands)
    _add_sweep_parser(commands)
    _add_bench_parser(commands)
    return parser


def _add_data_parsers(commands) -> None:
    """`jenacast data download | info | synth`."""
    data = commands.add_parser(
        "data",
        help="download the Jena climate data, describe any table, or synthesise a Jena-like one",
        description="Download the Jena climate data, describe any table as jenacast reads it, or synthesise a "
        "Jena-like dataset.",
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    download = data_commands.add_parser(
        "download",
        help="download, validate and cache the real dataset",
        description="Download jena_climate_2009_2016.csv.zip (falling back across mirrors), validate its "
        "structure, cache the CSV and a fast binary copy under $JENACAST_CACHE (else the user cache folder) "
        "and print its sha256. Instant when already cached.",
    )
    download.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="download from this URL instead of the public mirrors (repeatable, tried in order)",
    )
    download.add_argument("--force", action="store_true", help="download again even when cached")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    download.set_defaults(func=_cmd_data_download)

    info = data_commands.add_parser(
        "info",
        help="rows, dates, column statistics, gaps, duplicates and sentinels of a table",
        description="Describe a table as the tool reads it: rows, interval, date range, per-column statistics, "
        "gaps, duplicated timestamps, -9999 sentinels, what loading filled and left out, and the windows. "
        "Without PATH, the cached real dataset.",
    )
    info.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="a Jena-format file or any station's table (default: the cached dataset)",
    )
    _add_table_options(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_data_info)

    synth = data_commands.add_parser(
        "synth",
        help="write a Jena-like synthetic CSV",
        description="Write a Jena-like synthetic dataset in exactly the real file's format "
        "(420,451 rows for 8 years; deterministic by seed).",
    )
    synth.add_argument("--out", required=True, type=Path, metavar="PATH", help="where to write the CSV")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--years", type=float, default=8.0, help="length in years (default 8, the real file's span)")
    synth.set_defaults(func=_cmd_data_synth)


def _add_train_parser(commands) -> None:
    """`jenacast train MODEL`."""
    from jenacast.models import MODELS

    model_lines = "\n".join(f"  {name:<14} {spec.description} ({spec.epochs} epochs)" for name, spec in MODELS.items())
    train = commands.add_parser(
        "train",
        help="train one of the chapter's models",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one of the chapter's models with the book's settings (RMSprop with Keras' rule, MSE loss, "
        "batch 256, shuffled windows, validation each epoch, best checkpoint by validation loss, reloaded for "
        "test).\n\n"
        "Models:\n" + model_lines,
    )
    train.add_argument("model", metavar="MODEL", choices=list(MODELS), help="one of: " + ", ".join(MODELS))
    train.add_argument("--epochs", type=_positive_int, help="epochs (default: the book's for the model)")
    train.add_argument("--batch-size", type=_positive_int, default=256, help="default 256")
    train.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate (default 1e-3)")
    train.add_argument(
        "--optimizer", choices=("rmsprop", "adam"), default="rmsprop", help="default rmsprop (the book's)"
    )
    train.add_argument("--patience", type=_positive_int, help="stop after this many epochs without a better val loss")
    train.add_argument("--seed", type=int, default=0, help="seeds torch, numpy and random (default 0; recorded)")
    train.add_argument("--max-batches", type=_positive_int, help="cap every loop at this many batches (smoke runs)")
    train.add_argument("--out", type=Path, metavar="DIR", help="run folder (default runs/MODEL-DATE-TIME)")
    again = train.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last finished epoch (same options, same data)",
    )
    again.add_argument("--force", action="store_true", help="discard the run that --out holds and start over")
    _add_run_options(train)
    train.set_defaults(func=_cmd_train)


def _add_evaluate_parser(commands) -> None:
    """`jenacast evaluate RUN_DIR`."""
    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate a run's best checkpoint on val and test",
        description="Rebuild a run's best model from its folder alone and evaluate it.",
    )
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    evaluate.add_argument(
        "--intervals",
        action="store_true",
        help="also score prediction intervals on the whole test split: Monte Carlo dropout alone, with the noise "
        "term, conformally calibrated on the validation split, and conformally recalibrated on the latest 30 days "
        "of known errors (adaptive) (coverage, width, pinball loss, CRPS), beside persistence plus the training "
        "split's changes; written to RUN_DIR/intervals.json",
    )
    _add_sampling_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.set_defaults(func=_cmd_evaluate)


def _add_sampling_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=100, help="Monte Carlo dropout samples per window (default 100)")
    parser.add_argument(
        "--levels",
        type=_number_list,
        default=(50.0, 80.0, 95.0),
        metavar="L[,L...]",
        help="central interval levels in percent (default 50,80,95)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the dropout masks (default 0)")


def _add_forecast_parser(commands) -> None:
    """`jenacast forecast RUN_DIR`."""
    forecast = commands.add_parser(
        "forecast",
        help="forecast the target a horizon after the latest observation, with calibrated intervals",
        description="Forecast the target a horizon (the run's, 24h by default) after the last observation, or after "
        "--at: the point forecast, the mean of Monte Carlo dropout samples (the masks kept on: independent "
        "per sample, fixed across time steps), and central intervals from the samples alone, with the noise "
        "term, conformally calibrated on the validation split (kept in RUN_DIR/calibration.json), and "
        "recalibrated on the errors of the 30 days before the forecast (adaptive, the plot's bands). Models "
        "without dropout get intervals from the noise term alone. RUN_DIR may be a chapter folder (--model).",
    )
    forecast.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder or a chapter folder")
    forecast.add_argument("--model", help="in a chapter folder: the model (default: the best by validation MAE)")
    forecast.add_argument(
        "--dataset", metavar="PATH", help="read the recent data from this file (the run's columns; default its data)"
    )
    forecast.add_argument("--at", metavar="TIME", help="forecast from the last observation at or before this time")
    _add_sampling_options(forecast)
    forecast.add_argument("--plot", type=Path, metavar="FILE", help="draw the last five days and the forecast (PNG)")
    forecast.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    forecast.add_argument("--json", action="store_true", help="print JSON")
    forecast.set_defaults(func=_cmd_forecast)


def _add_chapter_parser(commands) -> None:
    """`jenacast chapter`."""
    from jenacast.chapter import SMOKE_EPOCHS, SMOKE_MAX_BATCHES
    from jenacast.models import MODELS

    chapter = commands.add_parser(
        "chapter",
        help="train and evaluate every model of the chapter and write the report",
        description="Reproduce chapter 10: the common-sense baseline and every model, trained with the book's settings "
        "for the book's epochs (about half an hour a seed on two CPU cores), evaluated on test, with each of the "
        "chapter's lessons checked; written to OUT/results.json, OUT/report.md and plots. Running it again reuses "
        "finished runs and resumes interrupted ones.",
    )
    quick_epochs = ", ".join(f"{name} {spec.quick_epochs}" for name, spec in MODELS.items())
    length = chapter.add_mutually_exclusive_group()
    length.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        default="book",
        help=f"a few full epochs per model ({quick_epochs}), evaluated on the whole validation and test "
        "splits: the chapter's lessons in about three minutes on two CPU cores (four the first "
        "time, compiling the kernels)",
    )
    length.add_argument(
        "--smoke",
        dest="mode",
        action="store_const",
        const="smoke",
        help=f"{SMOKE_EPOCHS} epochs of at most {SMOKE_MAX_BATCHES} batches per loop: checks that every "
        "model runs end to end, in about a minute; its numbers mean nothing",
    )
    chapter.add_argument(
        "--seeds", type=_positive_int, default=1, help="train each model with seeds 0..N-1 (default 1)"
    )
    chapter.add_argument("--models", type=_model_list, metavar="a,b,...", help="a subset (default: all)")
    chapter.add_argument("--epochs", type=_positive_int, help="override every model's epochs")
    chapter.add_argument(
        "--intervals",
        action="store_true",
        help="also score each model's prediction intervals on the test split (seed 0; Monte Carlo dropout, the "
        "noise term, conformal calibration; see jenacast evaluate --intervals)",
    )
    chapter.add_argument(
        "--samples", type=_positive_int, default=100, help="Monte Carlo samples per window with --intervals (100)"
    )
    chapter.add_argument(
        "--out", type=Path, default=Path("chapter"), metavar="DIR", help="output folder (default ./chapter)"
    )
    chapter.add_argument(
        "--force",
        action="store_true",
        help="train again the runs whose folders hold other settings or data (by default refused); "
        "finished runs with the same settings and data are still reused",
    )
    _add_ray_options(chapter)
    _add_run_options(chapter)
    chapter.set_defaults(func=_cmd_chapter)


def _add_ray_options(chapter: argparse.ArgumentParser) -> None:
    group = chapter.add_argument_group("runs in parallel, on Ray (pip install 'jenacast[ray]'; docs/ray.md)")
    group.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="local|auto|ADDRESS",
        help="train every (model, seed) run as a Ray task: local (the default when the flag stands alone) starts "
        "a cluster on this machine, auto joins the one `ray start` runs here, or a cluster's HOST:PORT; the runs "
        "write into --out, which must be storage every node sees at the same path",
    )
    group.add_argument(
        "--threads",
        type=_positive_int,
        help="torch and Numba threads per run, and with --ray the CPUs each run reserves (default: all cores, "
        "with --ray 1); the same --threads gives the same numbers with and without --ray",
    )
    group.add_argument(
        "--gpus-per-run", type=_positive_float, metavar="SHARE", help="with --ray on CUDA: a GPU's share per run (1)"
    )


def _add_sweep_parser(commands) -> None:
    """`jenacast sweep MODEL --space FILE`."""
    from jenacast.distributed.sweep import METRICS, SCHEDULERS
    from jenacast.models import MODELS

    sweep = commands.add_parser(
        "sweep",
        help="search a model's units, rates, learning rate, batch size or lookback on Ray Tune",
        description="A hyper-parameter sweep on Ray Tune (pip install 'jenacast[ray]'; docs/ray.md): each trial "
        "a training run in OUT/trials/ reporting its validation metric every epoch (ASHA stops the weak ones) "
        "and checkpointing through Tune. Running the same command again continues an interrupted sweep. "
        "Writes OUT/trials.csv, trials.md, trials.png and best.json.",
    )
    sweep.add_argument("model", metavar="MODEL", choices=list(MODELS), help="one of: " + ", ".join(MODELS))
    sweep.add_argument(
        "--space",
        type=Path,
        required=True,
        metavar="FILE",
        help="the search space, YAML or JSON: units, dropout, recurrent_dropout, lr, batch_size, lookback, "
        "optimizer, each a value, a list to choose from, or {uniform|loguniform|randint: [low, high]}",
    )
    sweep.add_argument("--samples", type=_positive_int, default=8, help="trials drawn from the space (default 8)")
    sweep.add_argument("--scheduler", choices=SCHEDULERS, default="asha", help="asha (default) stops weak trials early")
    sweep.add_argument("--metric", choices=METRICS, default="val_mae", help="what to minimise (default val_mae)")
    sweep.add_argument(
        "--ray",
        default="local",
        metavar="local|auto|ADDRESS",
        help="the Ray cluster (default local: one on this machine); OUT must be storage every node sees",
    )
    sweep.add_argument("--out", type=Path, default=Path("sweep"), metavar="DIR", help="output folder (./sweep)")
    sweep.add_argument("--resume", action="store_true", help="continue the sweep in --out (refused if there is none)")
    sweep.add_argument("--epochs", type=_positive_int, help="epochs per trial (default: the book's for the model)")
    sweep.add_argument("--max-batches", type=_positive_int, help="cap every loop at this many batches (smoke sweeps)")
    sweep.add_argument("--seed", type=int, default=0, help="every trial's training seed, and the sampling's (0)")
    sweep.add_argument("--threads", type=_positive_int, default=1, help="threads and CPUs per trial (default 1)")
    sweep.add_argument("--gpus-per-trial", type=_positive_float, metavar="SHARE", help="on CUDA: a GPU's share (1)")
    _add_run_options(sweep)
    sweep.set_defaults(func=_cmd_sweep)


def _add_bench_parser(commands) -> None:
    """`jenacast bench`."""
    from jenacast.bench import DEFAULT_MODELS

    bench = commands.add_parser(
        "bench",
        help="milliseconds per training batch of each model on each backend",
        description="Time a whole training step (forward, backward, RMSprop update; batch 256 x 120 x 14 on the "
        "device) of the chapter's models on each backend in one run. Backend 'torch' is torch.nn's own "
        "LSTM/GRU (cuDNN on a GPU) without recurrent dropout, the baseline to beat.",
    )
    bench.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    bench.add_argument("--models", type=_model_list, metavar="a,b,...", help=f"default: {','.join(DEFAULT_MODELS)}")
    bench.add_argument(
        "--backends",
        type=_backend_list,
        metavar="a,b,...",
        help="from reference, fwbw, cpu, triton, torch (default: triton,fwbw,torch on cuda, cpu,fwbw,torch on cpu)",
    )
    bench.add_argument("--repeats", type=_positive_int, default=20, help="timed batches per case (median reported)")
    _add_graph_option(bench)
    bench.add_argument(
        "--json", action="store_true", help='print a list of {"model", "device", "backend", "ms_per_batch", ...}'
    )
    bench.set_defaults(func=_cmd_bench)


class _StderrNotes(logging.Handler):
    """The library's notes (the backend "auto" picked, kernels compiling on first use) on the stderr of the
    moment (looked up per message, so that a replaced ``sys.stderr`` gets them)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def show_notes() -> None:
    """Send the ``jenacast`` logger's INFO notes to stderr, unless the application configured that logger."""
    logger = logging.getLogger("jenacast")
    if not logger.handlers:
        logger.addHandler(_StderrNotes())
        logger.setLevel(logging.INFO)


def flag(parameter: str) -> str:
    """The command line's name for a library parameter that an error message names."""
    return "--" + parameter.replace("_", "-")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    show_notes()
    if args.func in (_cmd_train, _cmd_chapter, _cmd_sweep, _cmd_bench):
        from jenacast.training.memory import keep_freed_memory

        keep_freed_memory()  # a process-wide setting: the command line chooses it, the library does not
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if on_main_thread else None
    try:
        return args.func(args)
    except JenacastError as exc:
        print(f"jenacast: error: {exc.worded(flag)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`jenacast data info | head`): nothing left to say
        devnull = os.open(os.devnull, os.O_WRONLY)  # the interpreter's final flush would complain (Python's docs)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # the file system said no (a full disk, a path that is a file, no permission)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"jenacast: error: {exc.strerror or exc}{where}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jenacast: interrupted", file=sys.stderr)
        return _interrupted_status()
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program stands so that it stops as Ctrl-C stops it (files whole, a resume hint)."""


def _on_sigterm(signum, frame):
    raise Terminated


def _interrupted_status() -> int:
    """The shell's convention: 128 + the signal's number (SIGTERM 143, SIGINT 130)."""
    return 143 if isinstance(sys.exc_info()[1], Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
