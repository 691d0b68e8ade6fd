"""The `jenacast` command line: parse, call the library, print.

Errors a person can cause end with one sentence on stderr and exit status 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jenacast import __version__
from jenacast.errors import JenacastError


def _cmd_data_download(args: argparse.Namespace) -> int:
    from jenacast.data import jena

    info = jena.download(mirrors=args.mirror or jena.MIRRORS, progress=not args.quiet, force=args.force)
    print(f"{info.csv_path}\nrows    {info.rows:,}\nsha256  {info.sha256}\nfrom    {info.url}")
    return 0


def _resolve_table(path: str | None):
    from jenacast.data import jena
    from jenacast.data.csvio import load_csv

    if path is not None:
        return load_csv(path)
    return jena.load_jena(download_if_missing=False)


def _cmd_data_info(args: argparse.Namespace) -> int:
    from jenacast.data.summary import describe, format_description

    info = describe(_resolve_table(args.path))
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from jenacast.data import generate_synthetic, write_csv

    if args.years <= 0:
        raise JenacastError(f"--years must be positive, got {args.years}.")
    table = generate_synthetic(args.seed, years=args.years)
    digest = write_csv(table, args.out)
    print(f"{args.out}\nrows    {len(table):,}\nsha256  {digest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jenacast",
        description="The advanced-RNN chapter of Deep Learning with Python (Jena temperature forecasting), "
        "reproducible and fast.",
    )
    parser.add_argument("--version", action="version", version=f"jenacast {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser("data", help="download, inspect or synthesise the Jena climate data",
                               description="Download, inspect or synthesise the Jena climate data.")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    download = data_commands.add_parser(
        "download", help="download, validate and cache the real dataset",
        description="Download jena_climate_2009_2016.csv.zip (falling back across mirrors), validate its "
        "structure, cache the CSV and a fast binary copy under $JENACAST_CACHE (else the user cache folder) "
        "and print its sha256. Instant when already cached.")
    download.add_argument("--mirror", action="append", metavar="URL",
                          help="download from this URL instead of the public mirrors (repeatable, tried in order)")
    download.add_argument("--force", action="store_true", help="download again even when cached")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    download.set_defaults(func=_cmd_data_download)

    info = data_commands.add_parser(
        "info", help="rows, dates, column statistics, gaps, duplicates and -9999 sentinels",
        description="Describe a Jena-format CSV (or zip): rows, date range, per-column statistics, gaps, "
        "duplicated timestamps and -9999 sentinels. Without PATH, the cached real dataset.")
    info.add_argument("path", nargs="?", metavar="PATH", help="a Jena-format .csv or .zip (default: the cached dataset)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_data_info)

    synth = data_commands.add_parser(
        "synth", help="write a Jena-like synthetic CSV",
        description="Write a Jena-like synthetic dataset in exactly the real file's format "
        "(420,451 rows for 8 years; deterministic by seed).")
    synth.add_argument("--out", required=True, type=Path, metavar="PATH", help="where to write the CSV")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--years", type=float, default=8.0, help="length in years (default 8, the real file's span)")
    synth.set_defaults(func=_cmd_data_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except JenacastError as exc:
        print(f"jenacast: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jenacast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
