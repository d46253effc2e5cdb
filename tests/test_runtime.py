"""runtime: device choice, seeding, threads, FAST mode, and clear errors for bad settings."""
import pytest
import torch

from gan_course import runtime


def test_device_auto_is_cpu_without_gpu(monkeypatch):
    monkeypatch.delenv("GAN_COURSE_DEVICE", raising=False)
    dev = runtime.device()
    assert dev.type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        assert dev.type in ("cpu", "mps")
    assert runtime.device("cpu") == torch.device("cpu")
    assert runtime.device(" CPU ") == torch.device("cpu")


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", ""])
def test_unknown_device_names_the_allowed_values(name):
    with pytest.raises(ValueError, match=r"device=.*allowed values: auto, cpu, cuda, cuda:N, mps"):
        runtime.device(name)


def test_device_from_environment(monkeypatch):
    monkeypatch.setenv("GAN_COURSE_DEVICE", "quantum")
    with pytest.raises(ValueError, match="quantum"):
        runtime.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_gpu_says_so():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        runtime.device("cuda")


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True), ("on", True),
                                            ("0", False), ("false", False), ("", False), (True, True), (0, False)])
def test_fast_mode_values(value, expected):
    assert runtime.fast_mode(value) is expected


def test_fast_mode_from_environment(monkeypatch):
    monkeypatch.setenv("GAN_COURSE_FAST", "1")
    assert runtime.fast_mode() is True
    monkeypatch.setenv("GAN_COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match=r"GAN_COURSE_FAST='maybe'.*allowed values"):
        runtime.fast_mode()


def test_fast_mode_bad_parameter():
    with pytest.raises(ValueError, match=r"FAST='maybe'.*allowed values"):
        runtime.fast_mode("maybe")


@pytest.mark.parametrize("bad", [0, -2, "zero", "1.5", 2.5])
def test_threads_must_be_positive_integers(bad):
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="positive integer"):
        runtime.set_threads(bad)
    assert torch.get_num_threads() == before


def test_threads_from_environment(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("GAN_COURSE_THREADS", "1")
    assert runtime.set_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("GAN_COURSE_THREADS", "0")
    with pytest.raises(ValueError, match="GAN_COURSE_THREADS='0'"):
        runtime.set_threads()
    runtime.set_threads(before)


def test_seed_everything_repeats():
    runtime.seed_everything(3)
    a = torch.randn(5)
    runtime.seed_everything(3)
    assert torch.equal(a, torch.randn(5))
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(-1)


def test_setup_reports_choices():
    info = runtime.setup(seed=1, fast=True, device_name="cpu", threads=1)
    assert info.fast and info.device.type == "cpu" and info.threads == 1
    assert "mode=FAST" in str(info)


def test_environment_report_lists_packages():
    rep = runtime.environment_report()
    for key in ("python", "torch", "device", "cpu_cores", "papermill", "nbval"):
        assert key in rep
