"""Run the fake OpenAI-compatible server of the tests (tests/fake_openai.py) standalone.

It answers POST /v1/chat/completions with a valid JSON object for the requested
`json_schema` (entities from the capitalised words of the text, relations linking
consecutive ones, a summary that is the first sentence) and POST /v1/embeddings with
hash-seeded unit vectors, both with token usage, and with no latency by default. Run it
from the repository root (or with PYTHONPATH=<repo root>) so `tests.fake_openai` imports:

    PYTHONPATH=/work/main .venv/bin/python bench/fake_llm_server.py --port 8999

It prints one line, `<base URL> <API key>` (the base URL ends in /v1), once it listens,
and on SIGTERM/SIGINT the number of requests per endpoint and the tokens it reported.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import fake_openai  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 = a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--any-key", action="store_true", help=f"accept any API key, not only {fake_openai.API_KEY}"
    )
    args = parser.parse_args()

    if args.port:
        # FakeOpenAI picks its port with the module's free_port() when it is built.
        fake_openai.free_port = lambda: args.port
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with fake_openai.FakeOpenAI() as fake:
        fake.configure(latency=args.latency, require_key=None if args.any_key else fake.api_key)
        print(fake.base_url, fake.api_key, flush=True)
        stop.wait()
        calls = dict(fake.calls)
        prompt, completion = fake.usage
    print(
        f"# fake served {calls} requests; usage: {prompt} prompt + {completion} completion tokens",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    main()
