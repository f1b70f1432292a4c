"""``scyllabench``: the companion command of the plugin.

::

    scyllabench aws list --run-id RUN [--region R] [--endpoint-url URL]
    scyllabench aws sweep [--dry-run] [--region R] [--endpoint-url URL]
    scyllabench ssh [--print] INVENTORY HOST [COMMAND...]
    scyllabench serve-snapshot ARCHIVE [--port N] [--address A] [--prometheus BINARY]
    scyllabench compare [--baseline-dir DIR] [--rules EXPR]... [--fail-missing-baseline]
                        BASELINE CURRENT

Thin: parsing and printing only; the work is done in ``provision/aws_*``,
``monitor/snapshot.py`` and ``baseline/offline.py``. An error prints one line and exits 1 (2 for
bad arguments, 130 for Ctrl-C). ``compare`` exits 0 when nothing regressed, 1 on a regression
and 2 on bad input (see :mod:`pytest_scyllabench.baseline.offline`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_scyllabench.baseline.rules import DEFAULT_RULES
from pytest_scyllabench.errors import ScyllaBenchError

#: Default port of ``serve-snapshot``: beside a session's Prometheus on 9090.
SERVE_PORT = 9095


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scyllabench",
                                     description="companion command of pytest-scyllabench")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    aws = commands.add_parser("aws", help="EC2 runs created by the aws provisioner")
    aws_commands = aws.add_subparsers(dest="aws_command", required=True, metavar="ACTION")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--region", metavar="REGION", default=None,
                       help="AWS region (default: boto3's, from AWS_DEFAULT_REGION or config)")
    where.add_argument("--endpoint-url", metavar="URL", default="",
                       help="EC2 endpoint, for moto or localstack (default: AWS itself)")
    listing = aws_commands.add_parser("list", parents=[where],
                                      help="list the live resources of a run")
    listing.add_argument("--run-id", metavar="RUN", required=True, help="the run's id")
    sweeping = aws_commands.add_parser(
        "sweep", parents=[where],
        help="delete the instances, security groups and key pairs whose expiry tag has passed")
    sweeping.add_argument("--dry-run", action="store_true",
                          help="only show what would be deleted (default: delete)")

    ssh = commands.add_parser("ssh", help="log into a host of a run with the run's key")
    ssh.add_argument("inventory", metavar="INVENTORY", type=Path,
                     help="the run's inventory.json (in <trials>/aws-<run id>/)")
    ssh.add_argument("host", metavar="HOST", help="host name: node1, loader-1, monitor-1...")
    ssh.add_argument("remote", metavar="COMMAND", nargs=argparse.REMAINDER,
                     help="command to run instead of a login shell")
    ssh.add_argument("--print", action="store_true", dest="print_only",
                     help="print the ssh command instead of running it")

    serve = commands.add_parser(
        "serve-snapshot",
        help="serve a Prometheus snapshot of a session (prometheus.tar.gz) until Ctrl-C")
    serve.add_argument("archive", metavar="ARCHIVE", type=Path,
                       help="a snapshot archive from the trials directory")
    serve.add_argument("--port", metavar="N", type=_port, default=SERVE_PORT,
                       help=f"port of the Prometheus serving it (default: {SERVE_PORT})")
    serve.add_argument("--address", metavar="A", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--prometheus", metavar="BINARY", default=None,
                       help="the Prometheus program (default: Debian's /usr/bin/prometheus)")

    compare = commands.add_parser(
        "compare", help="compare two runs saved with --scyllabench-save; exit 1 on a "
                        "regression, 2 on bad input")
    compare.add_argument("baseline", metavar="BASELINE",
                         help="the run to compare with: a run name or latest")
    compare.add_argument("current", metavar="CURRENT",
                         help="the run to judge: a run name or latest")
    compare.add_argument("--baseline-dir", metavar="DIR", type=Path, default=Path("baselines"),
                         help="directory of saved baselines (default: baselines)")
    compare.add_argument("--rules", "--rule", metavar="EXPR", action="append", default=[],
                         help="regression rules such as 'p99:+10%%' (repeatable, a later "
                              "rule for a metric wins; a test's marker rules saved with the "
                              "run win over these; default: "
                              f"{DEFAULT_RULES.replace('%', '%%')})")
    compare.add_argument("--fail-missing-baseline", action="store_true",
                         help="a benchmark of CURRENT missing from BASELINE is an error "
                              "(default: noted, not compared)")
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, got {port}")
    return port


def _aws_list(args: argparse.Namespace) -> int:
    from pytest_scyllabench.provision.aws_admin import describe, list_run

    found = asyncio.run(list_run(args.run_id, args.region, args.endpoint_url))
    if not found:
        print(f"run {args.run_id}: no live resources")
        return 0
    print("\n".join(describe(found)))
    return 0


def _aws_sweep(args: argparse.Namespace) -> int:
    from pytest_scyllabench.provision.aws_admin import describe, sweep

    report = asyncio.run(sweep(args.region, args.endpoint_url, dry_run=args.dry_run))
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not report.expired:
        print("nothing has expired")
    else:
        for resource_id, line in zip(report.expired.ids(), describe(report.expired),
                                     strict=True):
            verb = ("would delete" if args.dry_run else
                    "not deleted" if resource_id in report.left else "deleted")
            print(f"{verb}: {line}")
    for error in report.errors:
        print(f"error: {_one_line(error)}", file=sys.stderr)
    return 1 if report.errors else 0


def _ssh(args: argparse.Namespace) -> int:
    from pytest_scyllabench.provision.aws_files import read_inventory, ssh_argv

    argv = ssh_argv(read_inventory(args.inventory), args.host, args.remote)
    if args.print_only:
        print(shlex.join(argv))
        return 0
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def _serve_snapshot(args: argparse.Namespace) -> int:
    from pytest_scyllabench.monitor.prometheus import PROMETHEUS_BINARY
    from pytest_scyllabench.monitor.snapshot import serve_snapshot

    async def serve() -> int:
        served = await serve_snapshot(args.archive, args.port, address=args.address,
                                      binary=args.prometheus or PROMETHEUS_BINARY)
        try:
            print(f"serving {args.archive} at {served.url} (Ctrl-C stops it and removes the "
                  f"unpacked copy)", flush=True)
            code = await served.wait()
        finally:
            await served.stop()
        print(f"scyllabench: error: Prometheus exited with code {code}", file=sys.stderr)
        return 1

    try:
        return asyncio.run(serve())
    except KeyboardInterrupt:  # the way to stop it: served.stop() ran in serve()'s finally
        print("stopped; the unpacked copy was removed")
        return 0


def _compare(args: argparse.Namespace) -> int:
    from pytest_scyllabench.baseline.offline import BAD_INPUT, compare_runs
    from pytest_scyllabench.baseline.store import DirectoryStore

    try:
        result = compare_runs(DirectoryStore(args.baseline_dir), args.baseline, args.current,
                              args.rules, fail_missing=args.fail_missing_baseline)
    except ScyllaBenchError as exc:
        print(f"scyllabench compare: error: {_one_line(str(exc))}", file=sys.stderr)
        return BAD_INPUT
    print("\n".join([*result.lines(), result.summary()]))
    problem = result.problem()
    if problem is not None:
        print(f"scyllabench compare: error: {problem}", file=sys.stderr)
    return result.exit_code


def _one_line(message: str) -> str:
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve-snapshot":
        action = _serve_snapshot
    elif args.command == "compare":
        action = _compare
    else:
        action = {"list": _aws_list, "sweep": _aws_sweep}.get(
            getattr(args, "aws_command", ""), _ssh)
    try:
        return action(args)
    except (ScyllaBenchError, OSError) as exc:
        print(f"scyllabench: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scyllabench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
