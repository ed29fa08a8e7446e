"""Grammar-constrained sampling: every sampled sequence is a complete motif tree.

At each step a sample may only draw tokens whose parent bond type matches its open
attachment on top of the stack (a root token first), and only tokens whose new
attachments still fit in the remaining length, so every sequence closes before
``max_motifs``. Shapes: ``N`` samples, ``V`` tokens, ``S`` context tokens.
"""

from __future__ import annotations

import torch

from molecules.context import BOS, SPECIAL, TokenIndex
from molecules.model import DemonstrationTransformer


@torch.no_grad()
def sample_sequences(
    model: DemonstrationTransformer,
    index: TokenIndex,
    context: dict[str, torch.Tensor],
    score: float,
    n_samples: int,
    generator: torch.Generator,
    temperature: float = 1.0,
) -> list[list[int] | None]:
    """Token ids of ``n_samples`` molecules generated after ``context`` with ``score``.

    ``context`` holds (S,) tensors from :func:`molecules.context.make_context`. A
    sample is None where no token fitted (the index lacks a leaf of some bond type).
    """
    max_tokens = model.config.max_motifs - 1  # <bos> takes position 0
    _, cache = model(context["tokens"][None], context["positions"][None], context["scores"][None])
    cache = [(k.expand(n_samples, -1, -1, -1), v.expand(n_samples, -1, -1, -1)) for k, v in cache]
    parent_kind = torch.as_tensor(index.parent_kind)  # (V,)
    n_children = torch.as_tensor(index.n_children)  # (V,)
    stacks: list[list[int]] = [[] for _ in range(n_samples)]  # open attachments' bond types
    sequences: list[list[int] | None] = [[] for _ in range(n_samples)]
    active = torch.ones(n_samples, dtype=torch.bool)
    tokens = torch.full((n_samples, 1), SPECIAL.index(BOS))
    scores = torch.full((n_samples, 1), float(score))
    for step in range(max_tokens):
        positions = torch.full((n_samples, 1), step)
        logits, cache = model(tokens, positions, scores, cache)
        top = torch.tensor([stack[-1] if stack else 0 for stack in stacks])  # (N,)
        opened = torch.tensor([len(stack) for stack in stacks]) - int(step > 0)  # after filling
        allowed = (parent_kind == top[:, None]) & (
            opened[:, None] + n_children <= max_tokens - step - 1
        )  # (N, V)
        logits = logits[:, -1].masked_fill(~allowed, float("-inf")) / temperature
        blocked = ~allowed.any(dim=1)  # finished samples too may have no fitting token
        probabilities = torch.softmax(logits.masked_fill(blocked[:, None], 0.0), dim=-1)
        chosen = torch.multinomial(probabilities, 1, generator=generator)  # (N, 1)
        for i in torch.nonzero(active).flatten().tolist():
            if blocked[i]:
                sequences[i], active[i] = None, False
                continue
            token = int(chosen[i])
            sequences[i].append(token)
            if step:
                stacks[i].pop()
            stacks[i].extend(reversed(index.children[token]))
            active[i] = bool(stacks[i])
        if not active.any():
            break
        tokens = chosen
    return sequences
