"""checkpoint (atomic save, safe load, mismatch errors) and train (loop, divergence guard)."""
import dataclasses

import pytest
import torch

from gan_course import checkpoint, train


@dataclasses.dataclass
class Cfg:
    width: int = 4


def test_save_load_roundtrip(tmp_path):
    m = torch.nn.Linear(3, 2)
    path = checkpoint.save(tmp_path / "m.pt", kind="linear", config=Cfg(), step=7, state={"model": m.state_dict()})
    assert path.exists() and not (tmp_path / "m.pt.tmp").exists()
    ck = checkpoint.load(path, kind="linear", config=Cfg())
    assert ck["step"] == 7 and ck["format"] == checkpoint.FORMAT_VERSION
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(ck["state"]["model"])
    assert torch.equal(m2.weight, m.weight)


def test_load_rejects_other_kind_and_config(tmp_path):
    m = torch.nn.Linear(3, 2)
    path = checkpoint.save(tmp_path / "m.pt", kind="linear", config=Cfg(4), state={"model": m.state_dict()})
    with pytest.raises(checkpoint.CheckpointMismatch, match="'linear' checkpoint, not the 'gru'"):
        checkpoint.load(path, kind="gru")
    with pytest.raises(checkpoint.CheckpointMismatch, match="width: saved 4 vs asked 8"):
        checkpoint.load(path, kind="linear", config=Cfg(8))


def test_load_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="path="):
        checkpoint.load(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointMismatch, match="not a readable course checkpoint"):
        checkpoint.load(tmp_path / "junk.pt")
    torch.save({"a": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(checkpoint.CheckpointMismatch, match="no format version"):
        checkpoint.load(tmp_path / "plain.pt")


def test_save_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        checkpoint.save(tmp_path / "a.pt", kind="", state={"m": {}})
    with pytest.raises(ValueError, match="state"):
        checkpoint.save(tmp_path / "a.pt", kind="x", state={})
    with pytest.raises(TypeError, match="config"):
        checkpoint.save(tmp_path / "a.pt", kind="x", config=[1], state={"m": {}})


def test_loop_logs_and_calls_back():
    seen = []
    hist = train.loop(lambda i: {"v": i * 2}, 10, callbacks=[lambda i, logs: seen.append(i)], every=4,
                      show_progress=False)
    assert hist["v"] == [(i, 2.0 * i) for i in range(10)]
    assert seen == [0, 4, 8, 9]


def test_divergence_guard_restores_finite_weights():
    torch.manual_seed(0)
    x = torch.randn(64, 1)
    y = 3 * x
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=100.0)  # far too large: diverges within a few steps

    def step(i):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    guard = train.DivergenceGuard(model, optimizers=[opt], snapshot_every=1, hint="lower lr")
    with pytest.raises(train.TrainingDiverged, match=r"diverged at step \d+ .*What to change: lower lr"):
        train.loop(step, 1000, guard=guard, show_progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_guard_bad_arguments():
    with pytest.raises(ValueError, match="at least one module"):
        train.DivergenceGuard()
    with pytest.raises(TypeError, match="torch.nn.Module"):
        train.DivergenceGuard("model")
    with pytest.raises(ValueError, match="snapshot_every"):
        train.DivergenceGuard(torch.nn.Linear(1, 1), snapshot_every=0)
    with pytest.raises(ValueError, match="every"):
        train.loop(lambda i: {}, 3, every=0)


def _noisy_regression_run(path, n_steps, stop_at=None):
    """A small SGD run whose steps draw fresh random batches (so the RNG state matters on resume)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ckpt = train.Checkpointer(path, kind="toy", config={"width": 8}, modules={"model": model},
                              optimizers={"opt": opt}, every=5)
    start = ckpt.resume()

    def step(i):
        if stop_at is not None and i == stop_at:
            raise KeyboardInterrupt  # the kernel "dies" here
        x = torch.randn(16, 2)
        loss = ((model(x).squeeze(1) - x.sum(1)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    hist = train.loop(step, n_steps, start=start, checkpointer=ckpt, show_progress=False)
    return ckpt.history, hist


def test_resume_after_a_crash_matches_the_uninterrupted_run(tmp_path):
    full, _ = _noisy_regression_run(tmp_path / "a.pt", 40)
    with pytest.raises(KeyboardInterrupt):
        _noisy_regression_run(tmp_path / "b.pt", 40, stop_at=23)  # last save after step 19
    resumed, part = _noisy_regression_run(tmp_path / "b.pt", 40)
    assert part["loss"][0][0] == 20  # resumed from the step after the last checkpoint
    assert resumed["loss"] == full["loss"]  # bit-for-bit equal losses on CPU


def test_resume_with_another_config_is_refused(tmp_path):
    _noisy_regression_run(tmp_path / "c.pt", 10)
    model = torch.nn.Linear(2, 1)
    ck = train.Checkpointer(tmp_path / "c.pt", kind="toy", config={"width": 16}, modules={"model": model})
    with pytest.raises(checkpoint.CheckpointMismatch, match="width: saved 8 vs asked 16"):
        ck.resume()
