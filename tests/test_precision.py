"""`train.precision = "auto"`: mixed_bfloat16 exactly where the hardware computes in bf16."""

import pytest

from cenkeras.training.precision import cpu_supports_bfloat16, resolve_precision


def write_cpuinfo(path, flags):
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 {flags}\n\n")
    return path


def test_cpu_flags_decide_bfloat16(tmp_path):
    assert cpu_supports_bfloat16(write_cpuinfo(tmp_path / "a", "avx512f avx512_bf16"))
    assert cpu_supports_bfloat16(write_cpuinfo(tmp_path / "b", "amx_bf16 amx_tile"))
    assert not cpu_supports_bfloat16(write_cpuinfo(tmp_path / "c", "avx2 avx512f"))
    assert not cpu_supports_bfloat16(tmp_path / "missing")


def test_auto_follows_the_hardware(monkeypatch):
    import cenkeras.training.precision as precision

    monkeypatch.setattr(precision, "gpu_supports_bfloat16", lambda: None)
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    assert resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: False)
    assert resolve_precision("auto") == "float32"
    # A GPU decides over the CPU: a pre-Ampere GPU stays in float32.
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    monkeypatch.setattr(precision, "gpu_supports_bfloat16", lambda: False)
    assert resolve_precision("auto") == "float32"
    assert resolve_precision("float32") == "float32"


def test_unknown_precision_is_an_error():
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("float8")
