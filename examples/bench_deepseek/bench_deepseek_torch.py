"""The transformers + torch (eager, CPU) peer of examples/bench_deepseek: the same training step
on the same weights and tokens (a directory written by `bench_deepseek --save-init DIR`):
forward with labels=input_ids, backward, clip_grad_norm_(1.0), AdamW(3e-4, wd 0.1).

    /tmp/torchenv/bin/python examples/bench_deepseek/bench_deepseek_torch.py DIR [--bf16] [--steps 10] [--decode]

--bf16 runs forward and backward under torch.autocast("cpu", bfloat16) (f32 master weights).
--decode reports greedy `generate` tokens/s (marginal cost per token between 8 and 264 new
tokens, as the rax side). Prints one JSON line with the bench_lm keys.
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import DeepseekV3ForCausalLM


def main():
    d = sys.argv[1]
    bf16 = "--bf16" in sys.argv
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 10
    torch.manual_seed(0)
    m = DeepseekV3ForCausalLM.from_pretrained(d, dtype=torch.float32)
    m.train()
    ids = load_file(os.path.join(d, "tokens.safetensors"))["tokens"].long()
    opt = torch.optim.AdamW(m.parameters(), lr=3e-4, weight_decay=0.1)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = m(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    first = step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t)
    times.sort()
    out = {"impl": "torch", "backend": "cpu eager", "threads": torch.get_num_threads(),
           "policy": "autocast bf16" if bf16 else "f32", "trace_lower_s": 0.0, "compile_s": 0.0,
           "step_median_s": times[len(times) // 2], "step_min_s": times[0], "first_loss": first,
           "loss": loss, "params": sum(p.numel() for p in m.parameters()), "steps": steps + 1}
    if "--decode" in sys.argv:
        m.eval()
        prompt = torch.tensor([[(i * 7) % 256 for i in range(16)]])

        def gen(n):
            t = time.perf_counter()
            with torch.no_grad():
                m.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                           eos_token_id=None, pad_token_id=0)
            return time.perf_counter() - t
        gen(4)
        a, b = gen(8), gen(264)
        out["decode_tokens_per_s"] = 256.0 / (b - a)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
