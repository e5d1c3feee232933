"""``roundtable ask|status|stop``: the API from a terminal (``ROUNDTABLE_URL``,
``ROUNDTABLE_TOKEN``)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .client import AnswerFailed, Client, RoundtableError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roundtable", description=__doc__)
    parser.add_argument(
        "--url", default=os.environ.get("ROUNDTABLE_URL", "http://127.0.0.1:8000"), help="server"
    )
    parser.add_argument(
        "--token", default=os.environ.get("ROUNDTABLE_TOKEN", ""), help="API token (rt_…)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="ask a thread; stream the answer, then its sources")
    ask.add_argument("thread", type=int, help="thread id")
    ask.add_argument("question", help="e.g. '@assistant what did we decide?'")
    ask.add_argument(
        "--stop-on-exit", action="store_true", help="stop the answer if this program exits"
    )
    for name, text in (("status", "a message as it stands"), ("stop", "stop an answer")):
        command = commands.add_parser(name, help=text)
        command.add_argument("message", type=int, help="message id")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.token:
        print("Set ROUNDTABLE_TOKEN (or --token) to an API token.", file=sys.stderr)
        return 2
    client = Client(args.url, args.token)
    try:
        if args.command == "ask":
            return _ask(client, args.thread, args.question, stop=args.stop_on_exit)
        result = client.status(args.message) if args.command == "status" else None
        if args.command == "stop":
            result = client.stop(args.message)
        print(json.dumps(result, indent=2, ensure_ascii=False))
    except RoundtableError as exc:
        print(f"Error {exc.status} ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    return 0


def _ask(client: Client, thread: int, question: str, *, stop: bool) -> int:
    answer = client.ask(thread, question, stop_on_disconnect=stop)
    try:
        for chunk in answer:
            sys.stdout.write(chunk)
            sys.stdout.flush()
    except AnswerFailed as exc:
        print(f"\nThe answer did not finish: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write("\n")
    if answer.sources:
        print("\nSources:")
        for source in answer.sources:
            where = f", {source['locator']}" if source.get("locator") else ""
            print(f"  [{source['number']}] {source['title']}{where}{_cited_mark(source)}")
    message = answer.message or {}
    print(f"(answer {message.get('id')}: {message.get('status')})", file=sys.stderr)
    return 0


def _cited_mark(source: dict[str, object]) -> str:
    """Whether the answer cited the source (the server says so once the answer has ended)."""
    if "cited" not in source:
        return ""
    return " (cited)" if source["cited"] else " (not cited)"
