"""Widgets for a sentence VAE's latent space (notebook 10): homotopies between two typed sentences
(Bowman et al. 2016, Sec. 5) and sentences decoded from the prior.

    interpolation_widget(model, vocab, "i love thee .", "what is your name ?")
    prior_widget(model, vocab)

Typed text goes through the corpus tokenizer (lower case, words and punctuation). What can go wrong is
said in plain words, never as a traceback:
  * empty input (or only characters the tokenizer drops)  -> "sentence A is empty ..."
  * longer than the model's maximum                        -> "sentence B has 23 tokens; the maximum is 16"
  * words outside the vocabulary                           -> encoded as <unk> (documented) and listed;
    the encoder never saw <unk> in training, so the code of such a sentence is less reliable.
Headless (run-all, nbval, a web reader), each widget prints its result once for the default inputs.
"""
from __future__ import annotations

import torch

from ..data.text import word_tokenize
from ..models.sentence_vae import SentenceVAE, interpolate, vae_batch
from ..runtime import headless as _headless

DECODING = ("greedy", "sampled")


def parse_sentence(text, vocab, max_len: int, name: str = "sentence"):
    """Typed text -> (ids [<bos>, ..., <eos>], notes). Raises ValueError with a readable message for empty
    or too long input; unknown words become <unk> and are listed in `notes`."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str; got {type(text).__name__}")
    tokens = word_tokenize(text)
    if not tokens:
        raise ValueError(f"{name} is empty: type a few words (letters or punctuation), e.g. 'good night .'")
    if len(tokens) > max_len:
        raise ValueError(f"{name} has {len(tokens)} tokens; the model was trained on sentences of at most "
                         f"{max_len} tokens: shorten it")
    unknown = [t for t in tokens if t not in vocab]
    notes = []
    if unknown:
        notes.append(f"{name}: {len(unknown)} word(s) outside the {len(vocab)}-word vocabulary, read as <unk>: "
                     + ", ".join(sorted(set(unknown))[:10]))
    return vocab.encode(tokens, add_bos=True, add_eos=True), notes


def _decode(vocab, ids) -> str:
    return " ".join(vocab.decode(ids))


@torch.no_grad()
def homotopy(model: SentenceVAE, vocab, a: str, b: str, steps: int = 5, decoding: str = "greedy",
             temperature: float = 1.0, seed: int = 0, max_len: int = 16):
    """Decode `steps` codes on the line between the posterior means of a and b.
    Returns (lines: list of str, notes: list of str). Bad input raises ValueError (see parse_sentence)."""
    if decoding not in DECODING:
        raise ValueError(f"decoding={decoding!r}; allowed values: {', '.join(DECODING)}")
    ids_a, notes_a = parse_sentence(a, vocab, max_len, "sentence A")
    ids_b, notes_b = parse_sentence(b, vocab, max_len, "sentence B")
    _, targets = vae_batch([ids_a, ids_b], model.device)
    mu, _ = model.encode(targets)                                              # (2, d_z)
    z = interpolate(mu[0], mu[1], steps)                                       # (steps, d_z)
    gen = torch.Generator().manual_seed(seed)
    out = model.generate(z, max_len=max_len + 1, greedy=decoding == "greedy", temperature=temperature,
                         generator=gen)
    return [_decode(vocab, row) for row in out], notes_a + notes_b


@torch.no_grad()
def prior_sentences(model: SentenceVAE, vocab, n: int = 8, decoding: str = "greedy", temperature: float = 1.0,
                    seed: int = 0, max_len: int = 16) -> list[str]:
    """n sentences decoded from z ~ N(0, I)."""
    if decoding not in DECODING:
        raise ValueError(f"decoding={decoding!r}; allowed values: {', '.join(DECODING)}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    gen = torch.Generator().manual_seed(seed)
    z = model.sample_prior(n, generator=gen)
    out = model.generate(z, max_len=max_len + 1, greedy=decoding == "greedy", temperature=temperature,
                         generator=gen)
    return [_decode(vocab, row) for row in out]


def _format(lines, notes=(), title=""):
    text = ([title] if title else []) + [f"  {i}. {s}" for i, s in enumerate(lines)] + [f"  note: {n}" for n in notes]
    return "\n".join(text)


def interpolation_widget(model: SentenceVAE, vocab, a: str = "good night , sweet prince .",
                         b: str = "what is your name ?", steps: int = 6, max_len: int = 16, headless=None):
    """Two text boxes, a slider for the number of steps, greedy/sampled decoding, a temperature; the
    homotopy is redrawn on every change. Errors (empty, too long) are shown as messages."""
    def run(a, b, steps, decoding, temperature, seed):
        try:
            lines, notes = homotopy(model, vocab, a, b, steps, decoding, temperature, seed, max_len)
            return _format(lines, notes, f"{decoding} decoding, A -> B in {steps} steps:")
        except ValueError as exc:
            return f"cannot interpolate: {exc}"

    if _headless() if headless is None else headless:
        print(run(a, b, steps, "greedy", 1.0, 0))
        print(run(a, b, steps, "sampled", 1.0, 0))
        return None

    import ipywidgets as w
    from IPython.display import display

    from . import dropdown, slider
    ta = w.Text(value=a, description="sentence A", layout=w.Layout(width="480px"))
    tb = w.Text(value=b, description="sentence B", layout=w.Layout(width="480px"))
    controls = {"steps": slider(steps, 2, 12, 1, "steps"), "decoding": dropdown(DECODING, "greedy", "decoding"),
                "temperature": slider(1.0, 0.1, 2.0, 0.05, "temperature"), "seed": slider(0, 0, 99, 1, "seed")}
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            print(run(ta.value, tb.value, **{k: c.value for k, c in controls.items()}))

    for c in [ta, tb, *controls.values()]:
        c.observe(redraw, names="value")
    box = w.VBox([ta, tb, w.HBox(list(controls.values()), layout=w.Layout(flex_flow="row wrap")), out])
    display(box)
    redraw()
    return box


def prior_widget(model: SentenceVAE, vocab, n: int = 8, max_len: int = 16, headless=None):
    """Sentences decoded from z ~ N(0, I): a 'sample' button, the number, greedy/sampled, temperature."""
    def run(n, decoding, temperature, seed):
        return _format(prior_sentences(model, vocab, n, decoding, temperature, seed, max_len),
                       title=f"{n} sentences from z ~ N(0, I), {decoding} decoding (seed {seed}):")

    if _headless() if headless is None else headless:
        print(run(n, "greedy", 1.0, 0))
        return None

    import ipywidgets as w
    from IPython.display import display

    from . import dropdown, slider
    controls = {"n": slider(n, 1, 20, 1, "sentences"), "decoding": dropdown(DECODING, "greedy", "decoding"),
                "temperature": slider(1.0, 0.1, 2.0, 0.05, "temperature")}
    button = w.Button(description="sample again")
    out = w.Output()
    state = {"seed": 0}

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            print(run(seed=state["seed"], **{k: c.value for k, c in controls.items()}))

    def again(_):
        state["seed"] += 1
        redraw()

    for c in controls.values():
        c.observe(redraw, names="value")
    button.on_click(again)
    box = w.VBox([w.HBox(list(controls.values()) + [button], layout=w.Layout(flex_flow="row wrap")), out])
    display(box)
    redraw()
    return box

