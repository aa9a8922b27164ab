"""``agenttune sandbox run [--timeout S] [--memory-mb M] [--disk-mb D] [--network] -- CMD...``

Runs one command in a fresh bubblewrap sandbox, prints its output and exits with its exit code (124 when
the wall-clock limit fired). ``--no-sandbox`` runs it in a plain local shell instead (with a loud warning).

    agenttune sandbox run -- cat /etc/shadow          # Permission denied: host secrets stay out of reach
    agenttune sandbox run --timeout 2 -- sleep 10; echo $?   # 124
"""

from __future__ import annotations

import argparse
import shlex
import sys

from envs.sandbox import SandboxConfig, make_sandbox, probe


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    help = "Run commands in the bubblewrap sandbox that agents use."
    sandbox = subparsers.add_parser("sandbox", help=help, description=help)
    sub = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="SUBCOMMAND")
    run_p = sub.add_parser(
        "run",
        help="Run one command in a fresh sandbox; exit with its exit code (124 on timeout).",
        description="Run one command in a fresh sandbox; print its output; exit with its exit code (124 on timeout).",
    )
    run_p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="wall-clock limit (default 30)")
    run_p.add_argument("--memory-mb", type=int, default=1024, metavar="M", help="memory limit in MB (default 1024)")
    run_p.add_argument("--disk-mb", type=int, default=256, metavar="D", help="writable space in MB (default 256)")
    run_p.add_argument("--network", action="store_true", help="share the host's network (default: loopback only)")
    run_p.add_argument("--no-sandbox", action="store_true", help="run in a plain local shell (no isolation!)")
    run_p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...", help="the command and its arguments")
    run_p.set_defaults(func=run)
    probe_p = sub.add_parser("probe", help="Check that sandboxes work on this machine; print what applies.")
    probe_p.set_defaults(func=run_probe)
    return sandbox


def run(args: argparse.Namespace) -> int:
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        print("agenttune sandbox run: give a command after --, e.g. agenttune sandbox run -- ls /", file=sys.stderr)
        return 2
    # One word is taken as shell code ("ls | wc -l"); several are quoted as argv.
    command = cmd[0] if len(cmd) == 1 else shlex.join(cmd)
    config = SandboxConfig(
        command_timeout_s=args.timeout, memory_mb=args.memory_mb, disk_mb=args.disk_mb, network=args.network
    )
    with make_sandbox("none" if args.no_sandbox else "bwrap", config) as box:
        result = box.run(command)
    sys.stdout.write(result.output)
    sys.stdout.flush()
    if result.truncated:
        print(f"\n[output truncated at {config.max_output_chars} characters]", file=sys.stderr)
    if result.timed_out:
        print(f"[timed out after {args.timeout:g} s]", file=sys.stderr)
    return result.exit_code


def run_probe(args: argparse.Namespace) -> int:
    for key, value in probe().items():
        print(f"{key}: {value}")
    return 0
