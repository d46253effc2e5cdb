"""The attention-pattern widget of notebook 06b: type a line, pick a layer and a head, see where each
position of a `TransformerLM` looks (a heat map, row t = the weights of query t over keys 0..t) and what
the model predicts next.

    attention_explorer(model, chars.vocab, to_tokens=list, default="Fair is foul, and foul is fair")

Headless (run-all, nbval, the web view) it draws the figure once for the default line, layer and head.
A line the model cannot read (empty, unknown characters, longer than its block size) is shown as a
message naming the problem, never as a traceback.
"""
from __future__ import annotations

import torch

from ..data.vocab import BOS_ID
from . import dropdown, interactive_plot, slider
from .translation import check_known, plot_attention


def encode_line(text: str, vocab, block_size: int, to_tokens=list) -> list[int]:
    """A typed line -> [<bos>, ids...], refusing what the model cannot read, with the reason."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    tokens = to_tokens(text)
    if not tokens:
        raise ValueError("text='' is not allowed (an empty prompt); allowed: a line of at least one token")
    if len(tokens) + 1 > block_size:
        raise ValueError(f"text has {len(tokens)} tokens; allowed: at most block_size - 1 = {block_size - 1} "
                         "(the model's context, <bos> included)")
    return [BOS_ID] + vocab.encode(check_known(tokens, vocab))


@torch.no_grad()
def attention_of(model, ids: list[int]):
    """Attention weights of every layer for one sequence: a list of (heads, T, T) tensors, and the
    next-token probabilities after its last position (V,)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    logits, _, atts = model(torch.tensor([ids], device=dev), return_attention=True)
    model.train(was_training)
    return [a[0].cpu() for a in atts], torch.softmax(logits[0, -1], -1).cpu()


def attention_explorer(model, vocab, to_tokens=list, default: str = "Fair is foul, and foul is fair",
                       top: int = 6, headless=None):
    """Text box, layer slider and head menu on top; the heat map and the next-token guesses below."""
    import ipywidgets as w

    c = model.config
    heads = ["mean of heads"] + [f"head {h}" for h in range(c.heads)]

    def draw(fig, text, layer, head):
        try:
            ids = encode_line(text, vocab, c.block_size, to_tokens)
        except (ValueError, TypeError) as exc:           # a clear message instead of a traceback
            ax = fig.add_subplot(111)
            ax.axis("off")
            ax.text(0.0, 0.5, str(exc), wrap=True, fontsize=9, color="firebrick", va="center")
            return
        atts, probs = attention_of(model, ids)
        att = atts[layer - 1]                                            # (heads, T, T)
        att = att.mean(0) if head == heads[0] else att[heads.index(head) - 1]
        labels = [vocab.itos[i] if vocab.itos[i] != " " else "␣" for i in ids]
        ax = fig.add_subplot(1, 3, (1, 2))
        plot_attention(ax, att, labels, labels, title=f"layer {layer}, {head}: row t = where position t looks")
        ax.set_xlabel("key position (what is read)")
        ax.set_ylabel("query position")
        side = fig.add_subplot(1, 3, 3)
        side.axis("off")
        p, idx = probs.topk(min(top, len(probs)))
        guesses = "\n".join(f"{vocab.itos[i]!r:>8}  {q:.2f}" for q, i in zip(p.tolist(), idx.tolist()))
        side.text(0.0, 1.0, f"next token after the line:\n\n{guesses}", va="top", fontsize=8, family="monospace")

    text = w.Text(value=default, description="line", style={"description_width": "initial"},
                  layout=w.Layout(width="420px"))
    return interactive_plot(draw, figsize=(9.0, 4.2), headless=headless, text=text,
                            layer=slider(c.layers, 1, c.layers, 1, "layer"),
                            head=dropdown(heads, heads[0], "head"))
