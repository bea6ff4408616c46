"""The `textsearch` command.

    textsearch keywords dog frisbee catch            # a sentence that uses every keyword
    textsearch keywords --input sets.txt --output out.jsonl   # many sets, resumable
    torchrun --nproc_per_node 4 -m textsearch.cli -- keywords --input sets.txt --output out.jsonl

Bad input ends in one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from contextlib import contextmanager
from typing import Callable, Sequence

from . import __version__
from .threads import thread_policy
from .tasks import batch, locking, provenance
from .tasks import keywords as task

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> Parser:
    parser = Parser(prog="textsearch", description="Generate text by searching for it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    k = commands.add_parser("keywords", help="a fluent sentence that uses every keyword",
                            description="Search for a fluent sentence that uses every keyword "
                                        "(inflections allowed): language-model fluency plus a hard keyword constraint.",
                            epilog="Many processes: torchrun --nproc_per_node N -m textsearch.cli -- keywords "
                                   "--input FILE --output OUT.jsonl (the -- keeps torchrun off these options).")
    k.add_argument("words", nargs="*", metavar="WORD", help="keywords (with --init keywords the search starts from them in this order)")
    k.add_argument("--num", type=positive, default=1, help="sentences per keyword set (default 1)")
    k.add_argument("--steps", type=positive, default=task.STEPS, help=f"MCMC steps per sentence (default {task.STEPS})")
    k.add_argument("--chains", type=positive, default=task.CHAINS,
                   help=f"parallel chains per sentence; the best is kept (default {task.CHAINS})")
    k.add_argument("--top-k", type=positive, default=task.TOP_K,
                   help=f"candidate tokens per insert/replace (default {task.TOP_K})")
    k.add_argument("--top-p", type=probability_mass, default=task.TOP_P,
                   help=f"fewer candidates where the LM is sure: stop at this probability mass, at most "
                        f"--top-k (default {task.TOP_P}; 1 = always top-k)")
    k.add_argument("--init", choices=task.INITS, default=task.INIT,
                   help=f"smc: sequential Monte Carlo toward the prompted model's sentences with every keyword; "
                        f"draft: prompted drafts with the keywords inserted; keywords: the bare keywords "
                        f"(default {task.INIT})")
    k.add_argument("--seed", type=int, default=0, help="same seed, same sentences (default 0)")
    k.add_argument("--model", default=None, help="HF id, local directory or .gguf (default: the embedded SmolLM2-135M)")
    k.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    k.add_argument("--threads", type=positive, default=None,
                   help="CPU threads (default: the cores other processes leave idle, measured again between "
                        "packs; OMP_NUM_THREADS is respected)")
    k.add_argument("--json", action="store_true", help="one JSON object per result")
    k.add_argument("--trace", action="store_true", help="show the search: step, operation, sentence")
    k.add_argument("--input", metavar="FILE", help="concept sets, one per line (words, or CommonGen jsonl)")
    k.add_argument("--output", metavar="OUT.jsonl", help="results of --input, appended; a restart resumes")
    k.add_argument("--force-resume", action="store_true",
                   help="resume an --output that was started with other settings (its lines then mix them)")
    k.add_argument("--pack", type=positive, default=task.PACK,
                   help=f"--input sets whose drafts share forwards: faster, and a set's sentence may then "
                        f"differ from a run alone by float rounding (default {task.PACK})")
    return parser


def argument_type(convert: Callable[[str], float], ok: Callable[[float], bool], kind: str, rule: str):
    """An argparse type: `convert` the text, then check it with `ok`; each failure says what was expected."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {value}")
        return value
    return parse


positive = argument_type(int, lambda v: v >= 1, "a whole number", "must be at least 1")
probability_mass = argument_type(float, lambda v: 0 < v <= 1, "a number", "must be in (0, 1]")


def load_generator(args: argparse.Namespace, device: str) -> task.KeywordsToSentence:
    """The real generator: the chosen LM behind the keyword task with the command's settings."""
    from .lm import load_lm
    lm = load_lm(args.model, device=device)
    return task.KeywordsToSentence(lm, steps=args.steps, chains=args.chains, top_k=args.top_k, top_p=args.top_p,
                                   init=args.init)


def main(argv: Sequence[str] | None = None,
         make_generator: Callable[[argparse.Namespace, str], object] = load_generator) -> int:
    """Entry point; `make_generator(args, device)` gives an object with `check(words)`,
    `__call__(words, num=, seed=, trace=, progress=)` returning results with `.record()` and `.trace`, and
    `generate(sets, num=, seed=)` returning such results per set, and `settings()` (what shapes them)."""
    try:
        args = build_parser().parse_args(argv)
        with quiet_libraries(), thread_policy(args.threads) as adapt:
            return keywords_command(args, make_generator, adapt)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


@contextmanager
def quiet_libraries():
    """Within the command: no loading bars from transformers (ours stay), and warnings as one line each."""
    from transformers.utils import logging as transformers_logging
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *rest, **options: print(f"warning: {first_line(message)}", file=sys.stderr)
        try:
            yield
        finally:
            if bars:
                transformers_logging.enable_progress_bar()


def keywords_command(args: argparse.Namespace, make_generator, adapt=lambda: None) -> int:
    if args.input is None and args.output is not None:
        raise UsageError("--output needs --input (give the concept sets to run)")
    if args.input is not None:
        if args.words:
            raise UsageError("give keywords on the command line or --input FILE, not both")
        if args.output is None:
            raise UsageError("--input needs --output OUT.jsonl (results are appended there, so a restart resumes)")
        if args.trace:
            raise UsageError("--trace shows one search; it does not combine with --input")
        return batch_command(args, make_generator, adapt)
    try:
        task.validate_keywords(args.words)              # before the model loads: bad input fails fast
    except ValueError as error:
        raise UsageError(str(error)) from None
    generator = build(make_generator, args, resolve_device(args.device))
    try:
        results = generator(args.words, num=args.num, seed=args.seed, trace=args.trace,
                            progress=sys.stderr.isatty())
    except ValueError as error:
        raise UsageError(str(error)) from None
    for result in results:
        if args.json:
            record = result.record()
            if args.trace:
                record["trace"] = [step.record() for step in result.trace]
            print(json.dumps(record, ensure_ascii=False))
            continue
        if args.trace:
            print(task.format_trace(result.trace))
        print(result.text)
    return 0


def batch_command(args: argparse.Namespace, make_generator, adapt=lambda: None) -> int:
    """Input read and output locked before the model loads, so a bad path fails at once."""
    with batch.process_group() as (rank, world, barrier):
        try:
            sets, errors = batch.read_items(args.input, batch.parse_concept_set, task.validate_keywords)
        except ValueError as error:
            raise UsageError(str(error)) from None
        writes = ([args.output] if rank == 0 else []) + ([batch.part_path(args.output, rank)] if world > 1 else [])
        writes = [locking.lock_path(path) for path in writes]
        try:
            with locking.exclusive(writes):
                generator = build(make_generator, args, resolve_device(args.device, rank if world > 1 else None))
                sets, unusable = batch.usable(sets, generator.check, args.input)
                errors += unusable               # lines the model cannot take, after the malformed ones
                if rank == 0:
                    for message in errors:
                        print(f"error: {message}", file=sys.stderr)
                    provenance.check_settings(args.output, batch_settings(args, generator), args.force_resume)
                barrier()                       # the settings are checked before any rank writes

                def generate(packed: list[list[str]]) -> list[list[dict]]:
                    adapt()                     # the thread count follows the machine's load
                    return [[r.record() for r in results]
                            for results in generator.generate(packed, num=args.num, seed=args.seed)]

                batch.run_batch(sets, args.output, generate, num=args.num, pack=args.pack, rank=rank, world=world,
                                barrier=barrier, progress=sys.stderr.isatty())
        except (ValueError, OSError) as error:
            raise UsageError(first_line(error)) from None
    return USAGE_ERROR if errors else 0


def batch_settings(args: argparse.Namespace, generator) -> dict:
    """What shapes a batch output's lines besides its input: a resume must match them."""
    return {"textsearch": __version__, "seed": args.seed, "num": args.num, "pack": args.pack,
            **generator.settings()}


def build(make_generator, args: argparse.Namespace, device: str):
    try:
        return make_generator(args, device)
    except ValueError as error:                           # load_lm's own messages name the model and the fix
        raise UsageError(first_line(error)) from None
    except OSError as error:
        raise UsageError(f"cannot load the model {args.model or '(built-in)'}: {first_line(error)}") from None


def resolve_device(choice: str, local_rank: int | None = None) -> str:
    """auto → cuda when present; under torchrun each rank takes its own GPU."""
    import torch
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but no CUDA device is visible: use --device auto or cpu")
    if choice == "cpu" or not torch.cuda.is_available():
        return "cpu"
    return "cuda" if local_rank is None else f"cuda:{int(os.environ.get('LOCAL_RANK', local_rank))}"


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


if __name__ == "__main__":
    sys.exit(main())
