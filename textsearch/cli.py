"""The `textsearch` command.

    textsearch keywords dog frisbee catch            # a sentence that uses every keyword
    textsearch paraphrase "A dog catches a frisbee in the park."
    textsearch correct "The dog ran to the the prak."
    textsearch infill "The [BLANK] sat on the [BLANK]."
    textsearch keywords --input sets.txt --output out.jsonl   # many inputs, resumable (every command)
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
from dataclasses import dataclass
from typing import Callable, Sequence

from . import __version__
from .threads import thread_policy
from .objectives.template import Template
from .tasks import batch, correct, infill, locking, paraphrase, provenance, sentences
from .tasks import keywords as task
from .tasks.trace import format_trace

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


@dataclass(frozen=True)
class Task:
    """What the command needs to know of a task besides its generator."""
    key: str                                    # the input's field in result lines
    parse: Callable[[str], object]              # one line of an --input file -> the input
    validate: Callable[[object], object]        # the input, or a ValueError, before the model loads
    unit: str                                   # what the progress bar counts


def validate_template(text: str) -> str:
    Template(sentences.validate_sentence(text))             # a ValueError if it has no blank
    return text


TASKS = {
    "keywords": Task("keywords", batch.parse_concept_set, task.validate_keywords, "concept sets"),
    "paraphrase": Task("source", batch.parse_sentence, sentences.validate_sentence, "sentences"),
    "correct": Task("source", batch.parse_sentence, sentences.validate_sentence, "sentences"),
    "infill": Task("source", batch.parse_sentence, validate_template, "sentences"),
}


def build_parser() -> Parser:
    parser = Parser(prog="textsearch", description="Generate text by searching for it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    epilog = ("Many processes: torchrun --nproc_per_node N -m textsearch.cli -- {command} --input FILE "
              "--output OUT.jsonl (the -- keeps torchrun off these options).")
    k = commands.add_parser("keywords", help="a fluent sentence that uses every keyword",
                            description="Search for a fluent sentence that uses every keyword "
                                        "(inflections allowed): language-model fluency plus a hard keyword constraint.",
                            epilog=epilog.format(command="keywords"))
    k.add_argument("words", nargs="*", metavar="WORD", help="keywords (with --init keywords the search starts from them in this order)")
    search_options(k, task.STEPS, task.CHAINS, task.TOP_K, task.TOP_P)
    k.add_argument("--init", choices=task.INITS, default=task.INIT,
                   help=f"smc: sequential Monte Carlo toward the prompted model's sentences with every keyword; "
                        f"draft: prompted drafts with the keywords inserted; keywords: the bare keywords "
                        f"(default {task.INIT})")
    k.add_argument("--particles", type=positive, default=task.PARTICLES,
                   help=f"SMC particles per set (--init smc): more find sentences of lower energy, at more "
                        f"time and memory (default {task.PARTICLES})")
    shared_options(k, "concept sets, one per line (words, or CommonGen jsonl)")

    p = commands.add_parser("paraphrase", help="the same meaning in other words",
                            description="Search for a fluent sentence that means what the given one does in other "
                                        "words: a prompted model's fluency, MiniLM similarity and a charge for copying.",
                            epilog=epilog.format(command="paraphrase"))
    p.add_argument("text", nargs="?", metavar="SENTENCE", help="the sentence to paraphrase")
    p.add_argument("--keep", action="append", default=[], metavar="WORD",
                   help="a word the paraphrase must keep (any inflection); repeat for more")
    search_options(p, paraphrase.STEPS, paraphrase.CHAINS, paraphrase.TOP_K, paraphrase.TOP_P)
    shared_options(p, SENTENCES)

    c = commands.add_parser("correct", help="fix spelling and word errors",
                            description="Search for the likeliest sentence a few word edits (spelling fixes, deleted, "
                                        "inserted or swapped words) away from the given one; --json lists the edits.",
                            epilog=epilog.format(command="correct"))
    c.add_argument("text", nargs="?", metavar="SENTENCE", help="the sentence to correct")
    c.add_argument("--rounds", type=positive, default=correct.ROUNDS,
                   help=f"word edits at most (default {correct.ROUNDS})")
    shared_options(c, SENTENCES)

    i = commands.add_parser("infill", help="fill the [BLANK]s of a sentence",
                            description="Fill each [BLANK] with one to --max-blank words, all blanks jointly, under the "
                                        "model's probability of the whole sentence.",
                            epilog=epilog.format(command="infill"))
    i.add_argument("text", nargs="?", metavar="SENTENCE", help='the sentence with blanks, e.g. "The [BLANK] sat on the [BLANK]."')
    i.add_argument("--max-blank", type=positive, default=infill.MAX_BLANK,
                   help=f"words one blank may take (default {infill.MAX_BLANK})")
    search_options(i, infill.STEPS, infill.CHAINS, infill.TOP_K, infill.TOP_P)
    shared_options(i, SENTENCES)
    return parser


SENTENCES = 'sentences, one per line (text, or JSON with a "text" field)'


def search_options(parser: argparse.ArgumentParser, steps: int, chains: int, top_k: int, top_p: float) -> None:
    """The annealing search's options, with the task's defaults."""
    parser.add_argument("--steps", type=positive, default=steps, help=f"MCMC steps per result (default {steps})")
    parser.add_argument("--chains", type=positive, default=chains,
                        help=f"parallel chains per result; the best is kept (default {chains})")
    parser.add_argument("--top-k", type=positive, default=top_k,
                        help=f"candidate tokens per insert/replace (default {top_k})")
    parser.add_argument("--top-p", type=probability_mass, default=top_p,
                        help=f"fewer candidates where the LM is sure: stop at this probability mass, at most "
                             f"--top-k (default {top_p}; 1 = always top-k)")


def shared_options(parser: argparse.ArgumentParser, inputs: str) -> None:
    """What every task's command takes: results, seeds, the model, the output, batch mode."""
    parser.add_argument("--num", type=positive, default=1, help="results per input (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same results (default 0)")
    parser.add_argument("--model", default=None,
                        help="HF id, local directory or .gguf (default: the embedded SmolLM2-135M)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=positive, default=None,
                        help="CPU threads (default: the cores other processes leave idle, measured again between "
                             "packs; OMP_NUM_THREADS is respected)")
    parser.add_argument("--json", action="store_true", help="one JSON object per result")
    parser.add_argument("--trace", action="store_true", help="show the search: step, operation, sentence")
    parser.add_argument("--input", metavar="FILE", help=inputs)
    parser.add_argument("--output", metavar="OUT.jsonl", help="results of --input, appended; a restart resumes")
    parser.add_argument("--force-resume", action="store_true",
                        help="resume an --output that was started with other settings (its lines then mix them)")
    parser.add_argument("--pack", type=positive, default=task.PACK,
                        help=f"--input lines whose searches share forwards: faster, and a result may then "
                             f"differ from a run alone by float rounding (default {task.PACK})")


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


def load_generator(args: argparse.Namespace, device: str):
    """The real generator: the chosen LM behind the command's task with the command's settings."""
    from .lm import load_lm
    lm = load_lm(args.model, device=device)
    if args.command == "keywords":
        return task.KeywordsToSentence(lm, steps=args.steps, chains=args.chains, top_k=args.top_k,
                                       top_p=args.top_p, init=args.init, particles=args.particles)
    if args.command == "paraphrase":
        return paraphrase.Paraphrase(lm, keep=args.keep, steps=args.steps, chains=args.chains, top_k=args.top_k,
                                     top_p=args.top_p)
    if args.command == "correct":
        return correct.Correct(lm, rounds=args.rounds)
    return infill.Infill(lm, max_blank=args.max_blank, steps=args.steps, chains=args.chains, top_k=args.top_k,
                         top_p=args.top_p)


def main(argv: Sequence[str] | None = None,
         make_generator: Callable[[argparse.Namespace, str], object] = load_generator) -> int:
    """Entry point; `make_generator(args, device)` gives, for `args.command`, an object with `check(input)`,
    `__call__(input, num=, seed=, trace=, progress=)` returning results with `.text`, `.record()` and
    `.trace`, `generate(inputs, num=, seed=)` returning such results per input, and `settings()` (what
    shapes them)."""
    try:
        args = build_parser().parse_args(argv)
        with quiet_libraries(), thread_policy(args.threads) as adapt:
            return task_command(args, make_generator, adapt)
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


def task_command(args: argparse.Namespace, make_generator, adapt=lambda: None) -> int:
    spec = TASKS[args.command]
    given = args.words if args.command == "keywords" else args.text
    if args.input is None and args.output is not None:
        raise UsageError("--output needs --input (give the inputs to run)")
    if args.input is not None:
        if given:
            raise UsageError(f"give the {'keywords' if args.command == 'keywords' else 'sentence'} on the command "
                             f"line or --input FILE, not both")
        if args.output is None:
            raise UsageError("--input needs --output OUT.jsonl (results are appended there, so a restart resumes)")
        if args.trace:
            raise UsageError("--trace shows one search; it does not combine with --input")
        return batch_command(args, make_generator, adapt)
    if args.command != "keywords" and given is None:
        raise UsageError(f"give a sentence, e.g. textsearch {args.command} \"{EXAMPLES[args.command]}\", "
                         f"or --input FILE --output OUT.jsonl")
    try:
        spec.validate(given)                      # before the model loads: bad input fails fast
    except ValueError as error:
        raise UsageError(str(error)) from None
    generator = build(make_generator, args, resolve_device(args.device))
    try:
        results = generator(given, num=args.num, seed=args.seed, trace=args.trace, progress=sys.stderr.isatty())
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
            print(format_trace(result.trace))
        print(result.text)
    return 0


EXAMPLES = {"paraphrase": "A dog catches a frisbee in the park.", "correct": "The dog ran to the the prak.",
            "infill": "The [BLANK] sat on the [BLANK]."}


def batch_command(args: argparse.Namespace, make_generator, adapt=lambda: None) -> int:
    """Input read and output locked before the model loads, so a bad path fails at once."""
    spec = TASKS[args.command]
    with batch.process_group() as (rank, world, barrier):
        try:
            sets, errors = batch.read_items(args.input, spec.parse, spec.validate)
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

                def generate(packed: list) -> list[list[dict]]:
                    adapt()                     # the thread count follows the machine's load
                    return [[r.record() for r in results]
                            for results in generator.generate(packed, num=args.num, seed=args.seed)]

                batch.run_batch(sets, args.output, generate, num=args.num, pack=args.pack, rank=rank, world=world,
                                barrier=barrier, progress=sys.stderr.isatty(), key=spec.key, unit=spec.unit)
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
