#!/usr/bin/env python3
"""PyTorch reference for issue 4's speed and quality bar, run on this machine.

A nanoGPT-style GPT (GPT-2 block: LayerNorm without bias, learned positions,
causal attention written out as nanoGPT's non-flash path, 4d GELU MLP, head
tied to the embedding, bias-free linears) at the dense reference's
configuration: 4 layers, 4 heads, d 128, context 64, batch 12, AdamW lr 1e-3
(100 warm-up steps, cosine to 1e-4), betas (0.9, 0.99), weight decay 0.1 on
2-D weights, grad clip 1.0, no dropout, byte-level tinyshakespeare split
90/10.

It exists so that our tokens/s can be quoted as a ratio against PyTorch on
the same machine, back to back, instead of against a number measured on
another machine of this kind (their speed drifts by 20% or more).

  python3 torch_dense_ref.py --mode step  [--steps 40 --warmup 5]
      steady-state step time, printed like `moe-bench step`
  python3 torch_dense_ref.py --mode train [--steps 2000]
      the full run: final val loss and mean tokens/s

Needs Debian's python3-torch (1.13, OpenBLAS): apt-get install python3-torch.
"""
import argparse
import math
import os
import time

# Torch parallelises each op over its own OpenMP threads; OpenBLAS's pthreads
# on top of them fight for the 2 cores (5.3k instead of 13k tokens/s here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class Block(nn.Module):
    def __init__(self, d, heads, ctx):
        super().__init__()
        self.heads = heads
        self.register_buffer("causal", torch.ones(ctx, ctx, dtype=torch.bool).tril())
        self.ln1 = nn.LayerNorm(d, elementwise_affine=True)
        self.ln1.bias = None
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d, elementwise_affine=True)
        self.ln2.bias = None
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.fc_out = nn.Linear(4 * d, d, bias=False)

    def attention(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~self.causal[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, d, layers, heads, ctx):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(Block(d, heads, ctx) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.ln_f.bias = None
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied, as nanoGPT
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "fc_out.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(T))
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def lr_at(step, args):
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    frac = (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps)
    return args.min_lr + 0.5 * (1 + math.cos(math.pi * min(1.0, frac))) * (args.lr - args.min_lr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="data/corpus/tinyshakespeare.txt")
    ap.add_argument("--mode", choices=["step", "train"], default="step")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before timing (step mode)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--eval-batches", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.steps is None:
        args.steps = 40 if args.mode == "step" else 2000
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    data = torch.frombuffer(bytearray(open(args.corpus, "rb").read()), dtype=torch.uint8).long()
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]

    def batch(src, gen):
        ix = torch.randint(len(src) - args.ctx - 1, (args.batch,), generator=gen)
        x = torch.stack([src[i : i + args.ctx] for i in ix])
        y = torch.stack([src[i + 1 : i + 1 + args.ctx] for i in ix])
        return x, y

    model = GPT(256, 128, 4, 4, args.ctx)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.99), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)
    tokens_per_step = args.batch * args.ctx

    def step(i):
        for g in opt.param_groups:
            g["lr"] = lr_at(i, args)
        x, y = batch(train, gen)
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    if args.mode == "step":
        for i in range(args.warmup):
            step(i)
        t0 = time.perf_counter()
        for i in range(args.steps):
            loss = step(args.warmup + i)
        dt = (time.perf_counter() - t0) / args.steps
        print(f"torch-ref step: torch {torch.__version__}, {args.threads} threads, "
              f"batch {args.batch} x {args.ctx} tokens, {args.steps} steps after {args.warmup} warm-up")
        print(f"  step {dt * 1e3:.2f} ms, {tokens_per_step / dt:.0f} tokens/s, final loss {loss:.4f}")
        return

    t0 = time.perf_counter()
    for i in range(args.steps):
        loss = step(i)
        if (i + 1) % 100 == 0:
            el = time.perf_counter() - t0
            print(f"step {i + 1} loss {loss:.4f} {tokens_per_step * (i + 1) / el:.0f} tokens/s", flush=True)
    train_s = time.perf_counter() - t0
    model.eval()
    vgen = torch.Generator().manual_seed(12345)
    with torch.no_grad():
        vl = sum(model(*batch(val, vgen)).item() for _ in range(args.eval_batches)) / args.eval_batches
    print(f"torch-ref: after {args.steps} steps: train loss {loss:.4f}, val loss {vl:.4f}, "
          f"{tokens_per_step * args.steps / train_s:.0f} tokens/s")


if __name__ == "__main__":
    main()
