"""Tests for workers.engine.similarity: per-(layer, token) cosine, summaries,
linear CKA and LoRA subspace overlap."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workers.engine.similarity import (
    cosine_per_layer_token,
    layer_cka,
    linear_cka,
    lora_subspace_overlap,
    similarity_summary,
)


def _generator(seed):
    return torch.Generator().manual_seed(seed)


def _random_orthogonal(dim, seed):
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=_generator(seed), dtype=torch.float64))
    return q


# --- cosine -----------------------------------------------------------------


def test_cosine_matches_torch():
    a = torch.randn(3, 5, 16, generator=_generator(0))
    b = torch.randn(3, 5, 16, generator=_generator(1))
    result = cosine_per_layer_token(a, b)
    assert result.shape == (3, 5)
    assert torch.allclose(result, F.cosine_similarity(a, b, dim=-1), atol=1e-6)
    manual = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    assert torch.allclose(result, manual, atol=1e-6)


def test_cosine_upcasts_half_precision_and_checks_shapes():
    a = torch.randn(2, 4, 8, generator=_generator(2))
    result = cosine_per_layer_token(a.bfloat16(), (-a).bfloat16())
    assert result.dtype == torch.float32
    assert torch.allclose(result, torch.full((2, 4), -1.0), atol=1e-5)
    with pytest.raises(ValueError):
        cosine_per_layer_token(a, a[:, :3])


def test_similarity_summary_weights_tokens_across_examples():
    hidden = 4
    # Example 1: 2 layers x 1 token, identical (cos 1).
    a1 = torch.randn(2, 1, hidden, generator=_generator(3))
    # Example 2: 2 layers x 3 tokens; layer 0 opposite (cos -1), layer 1 identical.
    a2 = torch.randn(2, 3, hidden, generator=_generator(4))
    b2 = a2.clone()
    b2[0] = -a2[0]
    summary = similarity_summary([(a1, a1.clone()), (a2, b2)])
    # layer 0: tokens (1, -1, -1, -1) -> -0.5; layer 1: all 1.
    assert summary["layer_similarity"] == pytest.approx([-0.5, 1.0], abs=1e-6)
    assert summary["mean_similarity"] == pytest.approx(0.25, abs=1e-6)
    assert summary["per_example"] == pytest.approx([1.0, 0.0], abs=1e-6)
    assert isinstance(summary["mean_similarity"], float)


def test_similarity_summary_rejects_mismatched_layers():
    a = torch.randn(2, 1, 4)
    b = torch.randn(3, 1, 4)
    with pytest.raises(ValueError, match="layers"):
        similarity_summary([(a, a), (b, b)])
    with pytest.raises(ValueError):
        similarity_summary([])


# --- linear CKA -------------------------------------------------------------


def _reference_cka(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def test_cka_self_is_one():
    x = torch.randn(40, 12, generator=_generator(5))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("n_rows,dim", [(30, 50), (200, 10)])
def test_cka_invariant_to_rotation_and_scaling(n_rows, dim):
    x = torch.randn(n_rows, dim, generator=_generator(6), dtype=torch.float64)
    y = x @ torch.randn(dim, dim, generator=_generator(7), dtype=torch.float64) + 0.5 * torch.randn(
        n_rows, dim, generator=_generator(8), dtype=torch.float64
    )
    base = linear_cka(x, y)
    assert 0.0 < base < 1.0
    assert base == pytest.approx(_reference_cka(x, y), rel=1e-9)
    rotated = x @ _random_orthogonal(dim, 9)
    assert linear_cka(rotated, y) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x * 3.7, y) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x, rotated) == pytest.approx(1.0, abs=1e-9)
    # Translation does not matter either (columns are centred).
    assert linear_cka(x + 5.0, y) == pytest.approx(base, rel=1e-9)


def test_cka_independent_data_near_zero():
    x = torch.randn(4000, 8, generator=_generator(10))
    y = torch.randn(4000, 8, generator=_generator(11))
    assert linear_cka(x, y) < 0.02


def test_cka_degenerate_and_numpy_input():
    x = np.random.default_rng(0).normal(size=(20, 3))
    assert linear_cka(np.ones((20, 3)), x) == 0.0
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, x[:, :2]) == pytest.approx(_reference_cka(x, x[:, :2]))
    with pytest.raises(ValueError):
        linear_cka(x, x[:10])


def test_layer_cka_stacks_tokens_per_layer():
    hidden = 6
    rotation = _random_orthogonal(hidden, 12).float()
    pairs = []
    for seed, tokens in [(13, 40), (14, 25)]:
        a = torch.randn(2, tokens, hidden, generator=_generator(seed))
        b = torch.empty_like(a)
        b[0] = a[0] @ rotation  # layer 0: same representation, rotated
        b[1] = torch.randn(tokens, hidden, generator=_generator(seed + 100))  # layer 1: unrelated
        pairs.append((a, b))
    values = layer_cka(pairs)
    assert len(values) == 2
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert values[1] < 0.3
    stacked_a = torch.cat([a[1] for a, _ in pairs])
    stacked_b = torch.cat([b[1] for _, b in pairs])
    assert values[1] == pytest.approx(_reference_cka(stacked_a, stacked_b), rel=1e-6)


# --- LoRA subspace overlap --------------------------------------------------

Q_KEY = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
O_KEY = "base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight"


def _basis_columns(out_dim, columns, seed):
    """A lora_B-like [out_dim, len(columns)] matrix spanning the given axes."""
    basis = torch.eye(out_dim, dtype=torch.float64)[:, columns]
    mixing = torch.randn(len(columns), len(columns), generator=_generator(seed), dtype=torch.float64)
    return (basis @ (mixing + 3 * torch.eye(len(columns), dtype=torch.float64))).float()


def test_lora_overlap_with_itself_is_one():
    adapter = {
        Q_KEY: torch.randn(32, 8, generator=_generator(20)),
        O_KEY: torch.randn(32, 8, generator=_generator(21)),
        Q_KEY.replace("lora_B", "lora_A"): torch.randn(8, 32, generator=_generator(22)),
    }
    result = lora_subspace_overlap(adapter, adapter)
    assert set(result["per_module"]) == {Q_KEY, O_KEY}
    assert all(value == pytest.approx(1.0, abs=1e-9) for value in result["per_module"].values())
    assert result["mean"] == pytest.approx(1.0, abs=1e-9)
    assert result["skipped"] == []


def test_lora_overlap_orthogonal_and_partial():
    first = {Q_KEY: _basis_columns(32, list(range(0, 8)), 23)}
    orthogonal = {Q_KEY: _basis_columns(32, list(range(8, 16)), 24)}
    half_shared = {Q_KEY: _basis_columns(32, [0, 1, 2, 3, 20, 21, 22, 23], 25)}
    assert lora_subspace_overlap(first, orthogonal)["mean"] == pytest.approx(0.0, abs=1e-9)
    assert lora_subspace_overlap(first, half_shared)["mean"] == pytest.approx(0.5, abs=1e-6)


def test_lora_overlap_depends_only_on_column_space():
    b = torch.randn(32, 8, generator=_generator(26), dtype=torch.float64)
    mixing = torch.randn(8, 8, generator=_generator(27), dtype=torch.float64) + 4 * torch.eye(8, dtype=torch.float64)
    result = lora_subspace_overlap({Q_KEY: b}, {Q_KEY: b @ mixing})
    assert result["mean"] == pytest.approx(1.0, abs=1e-9)


def test_lora_overlap_matches_live_and_saved_keys_and_skips_zero():
    b = torch.randn(16, 4, generator=_generator(28))
    live_key = Q_KEY.replace("lora_B.weight", "lora_B.default.weight")
    zero_key = O_KEY.replace("lora_B.weight", "lora_B.default.weight")
    result = lora_subspace_overlap(
        {Q_KEY: b, O_KEY: torch.randn(16, 4)},
        {live_key: b, zero_key: torch.zeros(16, 4)},
    )
    assert result["per_module"] == {Q_KEY: pytest.approx(1.0, abs=1e-6)}
    assert result["skipped"] == [O_KEY]
    assert result["mean"] == pytest.approx(1.0, abs=1e-6)


def test_lora_overlap_explicit_r_and_errors():
    first = _basis_columns(32, list(range(8)), 29)
    # Both adapters have e_0 as their dominant direction and differ in the
    # weaker second one: r=1 compares only e_0 (overlap 1), the default r=2
    # compares {e_0, e_1} with {e_0, e_2} (overlap 1/2).
    top_a = torch.zeros(32, 2)
    top_a[0, 0], top_a[1, 1] = 10.0, 1.0
    top_b = torch.zeros(32, 2)
    top_b[0, 0], top_b[2, 1] = 10.0, 1.0
    assert lora_subspace_overlap({Q_KEY: top_a}, {Q_KEY: top_b}, r=1)["mean"] == pytest.approx(1.0)
    assert lora_subspace_overlap({Q_KEY: top_a}, {Q_KEY: top_b})["mean"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="exceeds"):
        lora_subspace_overlap({Q_KEY: first}, {Q_KEY: first}, r=9)
    with pytest.raises(ValueError, match="share no lora_B"):
        lora_subspace_overlap({Q_KEY: first}, {O_KEY: first})


def test_lora_overlap_of_random_subspaces_is_near_its_chance_level():
    # two independent random r-dimensional subspaces of R^d overlap r / d on average:
    # the "random" level the page's caption quotes
    values = [
        lora_subspace_overlap({Q_KEY: torch.randn(64, 8, generator=_generator(100 + i))},
                              {Q_KEY: torch.randn(64, 8, generator=_generator(200 + i))})
        for i in range(40)
    ]
    assert all(v["random"] == pytest.approx(8 / 64) for v in values)
    assert float(np.mean([v["mean"] for v in values])) == pytest.approx(8 / 64, abs=0.02)
    # modules of different sizes: the chance level is the mean of each module's r / out
    mixed = {Q_KEY: torch.randn(32, 4, generator=_generator(30)), O_KEY: torch.randn(16, 4, generator=_generator(31))}
    assert lora_subspace_overlap(mixed, mixed)["random"] == pytest.approx((4 / 32 + 4 / 16) / 2)


def test_saved_adapter_is_read_from_a_peft_folder_or_its_file(tmp_path):
    from safetensors.torch import save_file

    from workers.engine.adapters import load_saved_adapter

    weights = {Q_KEY: torch.randn(16, 4, generator=_generator(32)),
               Q_KEY.replace("lora_B", "lora_A"): torch.randn(4, 16, generator=_generator(33))}
    folder = tmp_path / "adapter"
    folder.mkdir()
    save_file(weights, str(folder / "adapter_model.safetensors"))
    for path in (folder, folder / "adapter_model.safetensors"):
        loaded = load_saved_adapter(path)
        assert set(loaded) == set(weights) and all(torch.equal(loaded[k], weights[k]) for k in weights)
    with pytest.raises(FileNotFoundError, match="no adapter weights at .*missing"):
        load_saved_adapter(tmp_path / "missing")
