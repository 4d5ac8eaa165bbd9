"""Golden files for rax's DeepSeek-V2/V3 parity tests, made with transformers + torch (CPU, f32).

Run from the repository root:

    /tmp/torchenv/bin/python crates/rax-models/gen/deepseek_goldens.py          # write goldens
    /tmp/torchenv/bin/python crates/rax-models/gen/deepseek_goldens.py --check DIR NAME
        # load a directory rax saved with `from_pretrained` and compare its logits with the
        # golden NAME (v3 or v2); the result is recorded in tests/data/deepseek/rax_saved_NAME.json

Two tiny random models:
  v3: DeepseekV3 (sigmoid routing, correction bias, group-limited n_group=4 / topk_group=2,
      YaRN rope with mscale/mscale_all_dim, interleaved rope, untied head, one MTP layer's
      tensors appended to the file), saved as one f32 `model.safetensors`.
  v2: DeepseekV2 (softmax routing, group_limited_greedy, no q low-rank, tied head), saved in
      bf16 as two shards with `model.safetensors.index.json`.
For each: input_ids, logits, the loss with labels=input_ids, a greedy continuation from
`generate`, and the gradient of the loss for every parameter (torch autograd), in
`<name>_golden.safetensors`.
"""
import copy
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config, DeepseekV3ForCausalLM

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "deepseek")


def v3_config():
    return DeepseekV3Config(
        vocab_size=64, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
        n_shared_experts=1, n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2,
        first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True,
        kv_lora_rank=16, q_lora_rank=24, qk_rope_head_dim=8, qk_nope_head_dim=12, v_head_dim=12,
        max_position_embeddings=128, rope_interleave=True, tie_word_embeddings=False,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                         "original_max_position_embeddings": 32, "beta_fast": 32.0,
                         "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
        num_mtp_layers=1,
    )


def v2_config():
    return DeepseekV2Config(
        vocab_size=80, hidden_size=32, intermediate_size=48, moe_intermediate_size=16,
        num_hidden_layers=2, num_attention_heads=4, n_shared_experts=2, n_routed_experts=8,
        num_experts_per_tok=2, topk_method="group_limited_greedy", n_group=4, topk_group=2,
        first_k_dense_replace=1, routed_scaling_factor=1.5, kv_lora_rank=16, q_lora_rank=None,
        qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, max_position_embeddings=64,
        tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )


def randomise(model, seed, bf16_exact):
    """Weights ~ N(0, 0.15), norm scales 1 + N(0, 0.1), correction biases N(0, 0.05)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                v = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
            else:
                v = 0.15 * torch.randn(p.shape, generator=g)
            if bf16_exact:
                v = v.bfloat16().float()
            p.copy_(v)
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(0.05 * torch.randn(b.shape, generator=g))


def goldens(name, model, vocab, seed):
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, vocab, (2, 12), generator=g)
    model.eval()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    t = {"input_ids": ids.to(torch.int32), "logits": out.logits.detach().contiguous(),
         "loss": out.loss.detach().reshape(())}
    for pname, p in model.named_parameters():
        if p.grad is None:
            continue
        g = p.grad.detach()
        # Stacked experts are named per expert, as checkpoints store them.
        if pname.endswith("mlp.experts.gate_up_proj"):
            pre = pname[: -len("gate_up_proj")]
            inter = g.shape[1] // 2
            for j in range(g.shape[0]):
                t[f"grad.{pre}{j}.gate_proj.weight"] = g[j, :inter].contiguous()
                t[f"grad.{pre}{j}.up_proj.weight"] = g[j, inter:].contiguous()
        elif pname.endswith("mlp.experts.down_proj"):
            pre = pname[: -len("down_proj")]
            for j in range(g.shape[0]):
                t[f"grad.{pre}{j}.down_proj.weight"] = g[j].contiguous()
        else:
            t["grad." + pname] = g.contiguous()
    prompt = ids[:, :5]
    with torch.no_grad():
        gen = model.generate(prompt, max_new_tokens=7, do_sample=False, min_new_tokens=7,
                             eos_token_id=None, pad_token_id=0)
    t["prompt"] = prompt.to(torch.int32)
    t["generated"] = gen.to(torch.int32)
    save_file(t, os.path.join(OUT, f"{name}_golden.safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    print(name, "loss", out.loss.item(), "generated", gen.tolist())


def add_mtp_tensors(dirpath, cfg, seed):
    """Appends the tensors of one multi-token-prediction layer (model.layers.<n>.*), as DeepSeek-V3
    checkpoints carry them, to the single-file checkpoint (transformers ignores them)."""
    path = os.path.join(dirpath, "model.safetensors")
    t = load_file(path)
    g = torch.Generator().manual_seed(seed + 7)
    n, d = cfg.num_hidden_layers, cfg.hidden_size
    t[f"model.layers.{n}.enorm.weight"] = torch.ones(d)
    t[f"model.layers.{n}.hnorm.weight"] = torch.ones(d)
    t[f"model.layers.{n}.eh_proj.weight"] = 0.1 * torch.randn(d, 2 * d, generator=g)
    t[f"model.layers.{n}.shared_head.norm.weight"] = torch.ones(d)
    save_file(t, path, metadata={"format": "pt"})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    cfg = v3_config()
    m = DeepseekV3ForCausalLM(cfg).float()
    randomise(m, 3, bf16_exact=False)
    d = os.path.join(OUT, "v3_single")
    m.save_pretrained(d, max_shard_size="100MB")
    add_mtp_tensors(d, cfg, 3)
    goldens("v3", m, cfg.vocab_size, 3)

    cfg = v2_config()
    m = DeepseekV2ForCausalLM(cfg).float()
    randomise(m, 5, bf16_exact=True)
    d = os.path.join(OUT, "v2_sharded")
    # A copy goes to bf16 for saving: `.to()` would also round the model's f32 rotary
    # frequency buffer, which the goldens must not see.
    copy.deepcopy(m).to(torch.bfloat16).save_pretrained(d, max_shard_size="40KB")
    goldens("v2", m, cfg.vocab_size, 5)
    for d in ["v3_single", "v2_sharded"]:
        for f in os.listdir(os.path.join(OUT, d)):
            if f == "generation_config.json":
                os.remove(os.path.join(OUT, d, f))


def check(dirpath, name):
    gold = load_file(os.path.join(OUT, f"{name}_golden.safetensors"))
    cls = DeepseekV3ForCausalLM if name == "v3" else DeepseekV2ForCausalLM
    m = cls.from_pretrained(dirpath, dtype=torch.float32)
    m.eval()
    with torch.no_grad():
        logits = m(input_ids=gold["input_ids"].long()).logits
    ref = gold["logits"]
    rel = ((logits - ref).abs().max() / ref.abs().max()).item()
    res = {"dir": "rax-saved " + name, "transformers": transformers.__version__,
           "max_abs_logits": ref.abs().max().item(), "max_rel_err": rel,
           "bitwise_equal": bool(torch.equal(logits, ref))}
    with open(os.path.join(OUT, f"rax_saved_{name}.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))
    assert rel < 1e-5, res


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    else:
        main()
