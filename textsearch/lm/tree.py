"""Rows that begin alike, run as one tree of tokens: no padding, no shared beginning run twice.

The rows a sampler step scores are, per chain, one sentence with a token edited at one
place: they share all that comes before the place. Laid end to end as a tree (every
distinct prefix once, each token attending to the tokens before it in its own row, by
an attention mask), they run in a single forward with every position a real token.

A tree may hang from kept states (`store`): a row whose first tokens were
scored before continues from their key/value cache, columns of the store's arena
(`Past`) its tokens attend to, and the tree's own states are written into the arena
after them. Log-probs equal the plain padded forward's up to float rounding.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .attention import blocks_for
from .base import Stats
from .head import captured_hidden, target_log_probs
from .kv import in_place, returned_cache, same_start, with_cache
from .store import Past

TREE_TOKENS = 512     # nodes per forward at most (and the token budget): attention grows with their square


@dataclass
class Tree:
    """The distinct prefixes of some rows, one node per prefix's last token, parents first."""
    tokens: list[int]
    positions: list[int]        # the token's position in its row
    parents: list[int]          # the node before it in its row; −1 where the row's past (or start) is
    nodes: list[list[int]]      # per row, the nodes of its tokens after its past

    @classmethod
    def of(cls, rows: Sequence[Sequence[int]], past_lengths: Sequence[int]) -> Tree:
        """The tree of `rows`, row i's first `past_lengths[i]` tokens left to a past (no nodes)."""
        index: dict[tuple[int, ...], int] = {}
        tree = cls([], [], [], [])
        for row, held in zip(rows, past_lengths):
            nodes: list[int] = []
            for j in range(held, len(row)):
                key = tuple(row[: j + 1])
                if key not in index:
                    index[key] = len(tree.tokens)
                    tree.tokens.append(row[j])
                    tree.positions.append(j)
                    tree.parents.append(nodes[-1] if nodes else -1)
                nodes.append(index[key])
            tree.nodes.append(nodes)
        return tree

    def __len__(self) -> int:
        return len(self.tokens)

    def allowed(self, past: Past | None, width: int = 0) -> torch.Tensor:
        """Which keys each node sees [T, width + T]: its row's held columns of the past (`width` columns
        wide) and its ancestors."""
        block: list[list[int]] = [[]] * len(self)      # the past columns each node sees
        if past is not None:
            for row, nodes in enumerate(self.nodes):
                if nodes and self.parents[nodes[0]] < 0 and self.positions[nodes[0]] == len(past.held[row]):
                    block[nodes[0]] = past.held[row].tolist()
        ancestors: list[list[int]] = []
        rows, cols = [], []
        for node, parent in enumerate(self.parents):
            if parent >= 0:
                block[node] = block[parent]
            ancestors.append((ancestors[parent] if parent >= 0 else []) + [width + node])
            seen = block[node] + ancestors[node]
            rows += [node] * len(seen)
            cols += seen
        allowed = torch.zeros((len(self), width + len(self)), dtype=torch.bool)
        allowed[rows, cols] = True
        return allowed


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype, device) -> torch.Tensor:
    """A 4-D attention mask [B, 1, T, K] the model takes as it is, from which keys each query sees:
    [T, K] (B = 1) or [B, T, K]."""
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return mask.view(-1, 1, *allowed.shape[-2:]).to(device)


def common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def stated(rows: Sequence[Sequence[int]], with_last: bool) -> list[Sequence[int]]:
    """The tokens of each row whose states a tree computes: a token's log p comes from the state before
    it, so the last token's own state is needed only for the distribution after the row."""
    return list(rows) if with_last else [row[:-1] for row in rows]


def tree_chunks(rows: Sequence[Sequence[int]], budget: int, held: Sequence[int] | None = None,
                with_last: bool = True) -> list[list[int]]:
    """Row indices in chunks of at most `budget` tree nodes (one row at least), rows in sorted order
    so that rows that begin alike share a chunk; row i's first `held[i]` tokens come from a past and
    are no nodes, nor is its last one without `with_last` (`stated`)."""
    held = held or [0] * len(rows)
    rows = stated(rows, with_last)
    order = sorted(range(len(rows)), key=lambda i: rows[i])
    chunks: list[list[int]] = []
    nodes, previous, previous_held = 0, (), 0
    for i in order:
        row = rows[i]
        shared = common_length(row, previous) - max(held[i], previous_held)     # nodes of the row before too
        fresh = len(row) - held[i] - max(shared, 0)
        if chunks and nodes + fresh <= budget:
            chunks[-1].append(i)
            nodes += fresh
        else:
            chunks.append([i])
            nodes = len(row) - held[i]
        previous, previous_held = row, held[i]
    return chunks


@dataclass
class TreeScores:
    """A tree forward's results per row, and where it left their states (`SentenceStore.add`)."""
    token_lp: list[torch.Tensor]      # log p of each row's tokens after the first (float64, CPU)
    last: torch.Tensor | None         # [n, V] next-token log-softmax after each row (float32, CPU)
    columns: list[torch.Tensor]       # the states of row i's tokens (all but the last without with_last)
                                      # sit at columns[i] of the past's arena
    width: int                        # the arena's filled columns after the forward


def run_tree(model, rows: Sequence[Sequence[int]], past: Past | None, device: torch.device, stats: Stats,
             with_last: bool = True, head_reads_hidden: bool = False) -> TreeScores:
    """Per-token log p of each row (start token first) and, `with_last`, the next-token log-softmax
    after it, in one forward of the tree of rows; row i's first `past.lengths[i]` tokens come from `past`,
    whose arena takes the tree's states (None: no past, nothing kept).
    A token's log p is read from the state before it, so without `with_last` a row's last token is no
    node (each candidate's end: a tenth of what keyword-to-sentence runs), and a row whose other
    tokens the past holds costs no forward. `head_reads_hidden`: the logits are the LM head of the
    final hidden states and nothing more, so the scored tokens take their log p from those
    (`head.target_log_probs`), kept ones included, and the head runs on the ends alone."""
    held = past.lengths if past is not None else [0] * len(rows)
    tree = Tree.of(stated(rows, with_last), held)
    kv, hidden_states, width = past.room(len(tree)) if past is not None else (None, None, 0)
    columns = [torch.cat([past.held[i] if past is not None else torch.zeros(0, dtype=torch.long),
                          width + torch.tensor(nodes, dtype=torch.long)]) for i, nodes in enumerate(tree.nodes)]
    # the state before each scored token, as a column of the past and the tree: a row's first may be kept
    read = [c for cols, p, row in zip(columns, held, rows) for c in cols[max(p, 1) - 1:len(row) - 1].tolist()]
    nexts = torch.tensor([t for row, p in zip(rows, held) for t in row[max(p, 1):]], dtype=torch.long, device=device)
    ends = [int(cols[-1]) - width for cols in columns] if with_last else []
    keep_logits = sorted(set(ends if head_reads_hidden else [c - width for c in read] + ends))  # the head runs on these
    hidden, logits = _forward(model, tree, past, kv, width, device, stats, keep_logits)
    if past is None:
        all_hidden = hidden if hidden is not None else torch.zeros(0, model.config.hidden_size, device=device)
    else:
        if hidden is not None:
            hidden_states[width:width + len(tree)] = hidden
        all_hidden = hidden_states[:width + len(tree)]
    log_norm = logits.logsumexp(-1)
    row_of = {node: k for k, node in enumerate(keep_logits)}
    if head_reads_hidden:
        target_lp = target_log_probs(model.get_output_embeddings(), all_hidden[read], nexts)
    else:
        at = torch.tensor([row_of[c - width] for c in read], dtype=torch.long, device=device)
        target_lp = logits[at, nexts] - log_norm[at]
    scored = target_lp.double().cpu().split([len(row) - max(p, 1) for row, p in zip(rows, held)])
    token_lp = [torch.cat([past.token_lp[i], s]) if past is not None else s for i, s in enumerate(scored)]
    if with_last:
        at_end = [row_of[node] for node in ends]
        if at_end == list(range(len(logits))):            # the logits are the ends', in order: no copy of [n, V]
            last = logits.sub_(log_norm[:, None]).cpu()
        else:
            at_end = torch.tensor(at_end, dtype=torch.long, device=device)
            last = logits[at_end].sub_(log_norm[at_end][:, None]).cpu()
    else:
        last = None
    return TreeScores(token_lp, last, columns, width + len(tree))


def _forward(model, tree: Tree, past: Past | None, kv: torch.Tensor | None, width: int, device: torch.device,
             stats: Stats, keep_logits: list[int]) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The tree's forward: the final hidden states [T, H] and the logits at the `keep_logits` nodes
    (float32); with a past, its states written into the arena `kv` after its `width` filled columns.
    No forward for an empty tree."""
    if not len(tree):
        return None, torch.zeros(0, 0, device=device)
    ids = torch.tensor([tree.tokens], device=device)
    stats.count(len(tree))
    positions = torch.tensor([tree.positions], device=device)
    # a cache of plain layers: the model's own may drop columns (sliding windows)
    cache = in_place(kv, width) if past is not None else None
    allowed = tree.allowed(past, width)
    mask = additive_mask(allowed, next(model.parameters()).dtype, device)
    with captured_hidden(model) as hidden:
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **blocks_for(model, allowed, mask),
                    **with_cache(model, cache), use_cache=past is not None,
                    logits_to_keep=torch.tensor(keep_logits, dtype=torch.long, device=device))
    if past is not None and not same_start(returned_cache(out).layers[0].keys, kv):
        raise RuntimeError("the forward did not write its states into the arena: it had no room for them")
    return hidden[0][0], out.logits[0].float()
