"""Models of the course, one module per family. Their contracts: generators G(z) -> x, discriminators
D(x) -> logits (B,), language models forward(tokens, targets=None) -> (logits, loss)."""
