"""Trains websd's demo model (websd-shapes) from scratch in stages that checkpoint and resume, so that training fits
in device runs of a few minutes each:

  vae   AutoencoderKL on rendered scenes (reconstruction + a small KL term); then its latent scaling factor.
  unet  CLIP text encoder and UNet2DConditionModel together, on latents of the frozen VAE, epsilon prediction,
        min-SNR weighting, the caption dropped 10% of the time (classifier-free guidance).

Each stage runs until its step target or the time budget (--minutes) runs out, keeps an exponential moving average
of the weights, and saves fp32 EMA + fp16 weights under --ckpt. `export` writes the f16 diffusers pipeline folder
from the EMA weights; `sample` draws the evaluation captions with diffusers' DPMSolverMultistepScheduler and scores
them as tests/test_demo_model.cpp does. Run from this folder with diffusers' source on PYTHONPATH (device.sh).
"""
import argparse
import json
import os
import shutil
import time

import torch
import torch.nn.functional as F

import render as R
import vocabulary as V

SIZE = 128  # images; latents are SIZE / 8
BUDGET_BYTES = 16_000_000  # the whole shipped folder, tokenizer included

VAE_CONFIG = dict(
    in_channels=3, out_channels=3, latent_channels=4, sample_size=SIZE,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[32, 32, 64, 64], layers_per_block=1, norm_num_groups=32, act_fn="silu",
)
TEXT_CONFIG = dict(
    vocab_size=49408, hidden_size=48, intermediate_size=192, num_hidden_layers=4, num_attention_heads=4,
    max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=48,
    bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
)
UNET_CONFIG = dict(
    sample_size=SIZE // 8, in_channels=4, out_channels=4,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[64, 96, 96], layers_per_block=1, cross_attention_dim=TEXT_CONFIG["hidden_size"],
    attention_head_dim=8, norm_num_groups=32,
)
NOISE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
# The shipped sampler: DPM-Solver++ (2M), 20 steps (websd's default step count).
SAMPLER = dict(NOISE, algorithm_type="dpmsolver++", solver_order=2, prediction_type="epsilon",
               timestep_spacing="linspace", steps_offset=0)
GUIDANCE = 7.5  # websd's default guidance scale

STAGES = {
    "vae": dict(steps=6000, batch=32, lr=3e-4, warmup=200, ema=0.999, kl=1e-5),
    "unet": dict(steps=40000, batch=768, lr=4e-4, warmup=300, ema=0.999, drop_caption=0.1, min_snr=5.0),
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def make_vae(**extra):
    from diffusers import AutoencoderKL
    return AutoencoderKL(**VAE_CONFIG, **extra)


def make_text():
    from transformers import CLIPTextConfig, CLIPTextModel
    return CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))


def make_unet():
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel(**UNET_CONFIG)


def tokenizer(tok_dir):
    from transformers import CLIPTokenizer
    return CLIPTokenizer.from_pretrained(tok_dir)


def tokenize(tok, captions, device):
    ids = tok(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    return ids.to(device)


class Ema:
    """fp32 moving average of a model's parameters, with the usual warm-up of the decay."""

    def __init__(self, model, decay, state=None):
        self.decay = decay
        live = model.state_dict()  # shares storage with the parameters the optimizer updates in place
        self.params = {k: v.detach().float().clone() for k, v in live.items()}
        if state is not None:
            self.params = {k: state[k].float().to(v.device) for k, v in self.params.items()}
        keys = [k for k, v in live.items() if v.dtype == torch.float32]
        self.src = [live[k] for k in keys]
        self.dst = [self.params[k] for k in keys]

    @torch.no_grad()
    def update(self, step):
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_mul_(self.dst, d)
        torch._foreach_add_(self.dst, self.src, alpha=1 - d)

    def copy_to(self, model):
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in self.params.items()})


def ckpt_path(ckpt, name):
    return os.path.join(ckpt, name + ".pt")


def save_ckpt(ckpt, name, model, ema, step, extra=None):
    os.makedirs(ckpt, exist_ok=True)
    tmp = ckpt_path(ckpt, name) + ".tmp"
    torch.save({"step": step, "ema": ema.params, "model": {k: v.half() for k, v in model.state_dict().items()},
                **(extra or {})}, tmp)
    os.replace(tmp, ckpt_path(ckpt, name))


def load_ckpt(ckpt, name):
    p = ckpt_path(ckpt, name)
    return torch.load(p, map_location="cpu") if os.path.exists(p) else None


def lr_at(cfg, step, warm_from):
    """Linear warm-up (again after each resume: the optimizer's moments start afresh), then constant; the EMA
    does the annealing, so a stage can stop at any step and resume with the same schedule."""
    return cfg["lr"] * min(1.0, (step - warm_from + 1) / cfg["warmup"])


def scenes(sampler, n):
    return [sampler.scene() for _ in range(n)]


def train_vae(args, dev, deadline):
    cfg = STAGES["vae"]
    vae = make_vae().to(dev)
    state = load_ckpt(args.ckpt, "vae")
    step = 0
    if state:
        vae.load_state_dict({k: v.float() for k, v in state["model"].items()})
        step = state["step"]
    ema = Ema(vae, cfg["ema"], state and state["ema"])
    target = args.smoke or args.vae_steps
    if step >= target:
        return
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg["lr"], weight_decay=0.0)
    sampler = V.CaptionSampler(1000 + step)
    warm_from, t0, first = step, time.time(), step
    vae.train()
    while step < target and time.time() < deadline:
        x = R.render(scenes(sampler, cfg["batch"]), SIZE, dev)
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step, warm_from)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
            post = vae.encode(x).latent_dist
            y = vae.decode(post.sample()).sample
        y = y.float()
        rec = F.l1_loss(y, x) + F.mse_loss(y, x)
        kl = post.kl().float().mean() / (x.shape[1] * x.shape[2] * x.shape[3])
        loss = rec + cfg["kl"] * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        ema.update(step)
        if step % 500 == 0 or step == target:
            log(f"vae step {step}/{target} rec {rec.item():.4f} kl {kl.item():.3f} "
                f"{(time.time() - t0) / (step - first) * 1000:.1f} ms/step")
    # The latent scaling factor: 1 / std of the EMA encoder's latents, as Stable Diffusion chose 0.18215.
    averaged = make_vae().to(dev).eval()
    ema.copy_to(averaged)
    probe = V.CaptionSampler(7)
    with torch.no_grad():
        z = torch.cat([averaged.encode(R.render(scenes(probe, 64), SIZE, dev)).latent_dist.sample()
                       for _ in range(8)])
    scaling = float(1 / z.float().std())
    save_ckpt(args.ckpt, "vae", vae, ema, step, {"scaling_factor": scaling})
    log(f"vae saved at step {step}; scaling factor {scaling:.5f}")


def folder_weights(folder, part, file):
    from safetensors.torch import load_file
    return {k: v.float() for k, v in load_file(os.path.join(folder, part, file)).items()}


def load_vae(args, dev):
    if args.init_from and load_ckpt(args.ckpt, "vae") is None:  # the shipped VAE, frozen as it was trained
        with open(os.path.join(args.init_from, "vae", "config.json")) as f:
            scaling = json.load(f)["scaling_factor"]
        vae = make_vae(scaling_factor=scaling)
        vae.load_state_dict(folder_weights(args.init_from, "vae", "diffusion_pytorch_model.safetensors"))
        return vae.to(dev).eval().requires_grad_(False), scaling
    state = load_ckpt(args.ckpt, "vae")
    if state is None or state["step"] < (args.smoke or args.vae_steps):
        raise SystemExit("the VAE is not trained to its step target yet: run the vae stage first")
    vae = make_vae(scaling_factor=state["scaling_factor"])
    vae.load_state_dict(state["ema"])
    return vae.to(dev).eval().requires_grad_(False), state["scaling_factor"]


def train_unet(args, dev, deadline):
    from diffusers import DDPMScheduler
    cfg = STAGES["unet"]
    vae, scaling = load_vae(args, dev)
    text, unet = make_text().to(dev), make_unet().to(dev)
    state = load_ckpt(args.ckpt, "unet")
    step = 0
    if state:
        text.load_state_dict({k: v.float() for k, v in state["model"]["text"].items()})
        unet.load_state_dict({k: v.float() for k, v in state["model"]["unet"].items()})
        step = state["step"]
    elif args.init_from:  # go on from a shipped folder (its f16 EMA weights start both the model and its EMA)
        text.load_state_dict(folder_weights(args.init_from, "text_encoder", "model.safetensors"))
        unet.load_state_dict(folder_weights(args.init_from, "unet", "diffusion_pytorch_model.safetensors"))
        step = args.init_step
        state = {"ema": {"text": text.state_dict(), "unet": unet.state_dict()}}
    ema_text = Ema(text, cfg["ema"], state and state["ema"]["text"])
    ema_unet = Ema(unet, cfg["ema"], state and state["ema"]["unet"])
    target = args.smoke or args.unet_steps
    if step < target:
        params = list(text.parameters()) + list(unet.parameters())
        opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=0.0)
        tok = tokenizer(args.tokenizer)
        noise_sched = DDPMScheduler(**NOISE)
        alphas = noise_sched.alphas_cumprod.to(dev)
        snr_all = alphas / (1 - alphas)
        sampler = V.CaptionSampler(5000 + step)
        warm_from, t0, first = step, time.time(), step
        text.train()
        unet.train()
        while step < target and time.time() < deadline:
            batch = scenes(sampler, args.unet_batch)
            captions = ["" if sampler.rng.random() < cfg["drop_caption"] else sc["caption"] for sc in batch]
            ids = tokenize(tok, captions, dev)
            with torch.no_grad():
                x = R.render(batch, SIZE, dev)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
                    z = vae.encode(x).latent_dist.sample().float() * scaling
            noise = torch.randn_like(z)
            t = torch.randint(0, NOISE["num_train_timesteps"], (z.shape[0],), device=dev)
            zt = noise_sched.add_noise(z, noise, t)
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step, warm_from)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
                ctx = text(ids).last_hidden_state
                pred = unet(zt, t, encoder_hidden_states=ctx).sample
            snr = snr_all[t]
            weight = torch.clamp(snr, max=cfg["min_snr"]) / snr  # min-SNR-gamma for epsilon prediction
            per = F.mse_loss(pred.float(), noise, reduction="none").mean(dim=(1, 2, 3))
            loss = (per * weight).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            ema_text.update(step)
            ema_unet.update(step)
            if step % 500 == 0 or step == target:
                log(f"unet step {step}/{target} loss {loss.item():.4f} lr {opt.param_groups[0]['lr']:.2e} "
                    f"{(time.time() - t0) / (step - first) * 1000:.1f} ms/step")
    os.makedirs(args.ckpt, exist_ok=True)
    tmp = ckpt_path(args.ckpt, "unet") + ".tmp"
    torch.save({"step": step, "ema": {"text": ema_text.params, "unet": ema_unet.params},
                "model": {"text": {k: v.half() for k, v in text.state_dict().items()},
                          "unet": {k: v.half() for k, v in unet.state_dict().items()}}}, tmp)
    os.replace(tmp, ckpt_path(args.ckpt, "unet"))
    log(f"unet saved at step {step}")


def export(args):
    """The f16 diffusers folder (EMA weights), laid out as StableDiffusionPipeline.save_pretrained lays it out."""
    from diffusers import DPMSolverMultistepScheduler
    vae, scaling = load_vae(args, "cpu")
    state = load_ckpt(args.ckpt, "unet")
    text, unet = make_text(), make_unet()
    text.load_state_dict(state["ema"]["text"])
    unet.load_state_dict(state["ema"]["unet"])
    out = args.export
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    vae.to(torch.float16).save_pretrained(os.path.join(out, "vae"))
    unet.to(torch.float16).save_pretrained(os.path.join(out, "unet"))
    text.to(torch.float16).save_pretrained(os.path.join(out, "text_encoder"))
    DPMSolverMultistepScheduler(**SAMPLER).save_pretrained(os.path.join(out, "scheduler"))
    tok_out = os.path.join(out, "tokenizer")
    os.makedirs(tok_out)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(args.tokenizer, f), tok_out)
    special = {"content": None, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    with open(os.path.join(tok_out, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": dict(special, content="<|startoftext|>"),
                   "eos_token": dict(special, content="<|endoftext|>"), "pad_token": "<|endoftext|>",
                   "unk_token": dict(special, content="<|endoftext|>")}, f, indent=2)
    with open(os.path.join(tok_out, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 77, "do_lower_case": True, "tokenizer_class": "CLIPTokenizer",
                   "pad_token": "<|endoftext|>", "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>"}, f, indent=2)
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.40.0.dev0",
                   "feature_extractor": [None, None], "image_encoder": [None, None],
                   "requires_safety_checker": False, "safety_checker": [None, None],
                   "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
                   "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
                   "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}, f, indent=2)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    log(f"exported {out}: {total} bytes (budget {BUDGET_BYTES}); unet step {state['step']}")
    if total > BUDGET_BYTES:
        raise SystemExit(f"the exported folder is {total} bytes, over the {BUDGET_BYTES} budget")


def sample(args, dev):
    """Draws the spec's captions from the exported folder with diffusers (fixed seeds, the shipped sampler) and
    prints the acceptance rates; saves a contact sheet of the held-out ones."""
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel
    spec = V.spec()
    root = args.export
    vae = AutoencoderKL.from_pretrained(os.path.join(root, "vae")).to(dev, torch.float32).eval()
    unet = UNet2DConditionModel.from_pretrained(os.path.join(root, "unet")).to(dev, torch.float32).eval()
    text = CLIPTextModel.from_pretrained(os.path.join(root, "text_encoder")).to(dev, torch.float32).eval()
    sched = DPMSolverMultistepScheduler.from_pretrained(os.path.join(root, "scheduler"))
    tok = tokenizer(os.path.join(root, "tokenizer"))
    for kind in ("held_out", "training"):
        cases = spec[kind]
        images = []
        with torch.no_grad():
            for case in cases:
                ctx = text(tokenize(tok, ["", case["caption"]], dev)).last_hidden_state
                g = torch.Generator().manual_seed(case["seed"])
                lat = torch.randn([1, 4, SIZE // 8, SIZE // 8], generator=g).to(dev) * sched.init_noise_sigma
                sched.set_timesteps(20)
                for t in sched.timesteps:
                    inp = sched.scale_model_input(torch.cat([lat] * 2), t)
                    u, c = unet(inp, t, encoder_hidden_states=ctx).sample.chunk(2)
                    lat = sched.step(u + GUIDANCE * (c - u), t, lat).prev_sample
                images.append(vae.decode(lat / vae.config.scaling_factor).sample)
        images = R.to_uint8(torch.cat(images))
        results = [V.score(im, case, spec) for im, case in zip(images, cases)]
        colour = sum(r[0] for r in results) / len(results)
        background = sum(r[1] for r in results) / len(results)
        log(f"{kind}: colour in cell {colour:.0%}, background {background:.0%} of {len(results)} (diffusers, {dev})")
        for case, r in zip(cases, results):
            if not all(r):
                log(f"  miss {'colour' if not r[0] else ''} {'background' if not r[1] else ''}: {case['caption']}")
        R.contact_sheet(images, 8).save(os.path.join(args.ckpt, f"sample_{kind}.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stages", nargs="+", choices=["vae", "unet", "export", "sample"])
    ap.add_argument("--ckpt", required=True, help="checkpoint folder (read to resume, written)")
    ap.add_argument("--export", help="where export writes the diffusers folder (and sample reads it)")
    ap.add_argument("--tokenizer", required=True, help="folder with the CLIP vocab.json and merges.txt")
    ap.add_argument("--minutes", type=float, default=8.0, help="time budget for the training stages together")
    ap.add_argument("--smoke", type=int, default=0, help="train only this many steps a stage (a quick check)")
    ap.add_argument("--init-from", help="a shipped websd-shapes folder to go on training from (no checkpoints)")
    ap.add_argument("--init-step", type=int, default=4683, help="the UNet step count of --init-from's weights")
    ap.add_argument("--unet-batch", type=int, default=STAGES["unet"]["batch"], help="scenes per UNet step")
    ap.add_argument("--vae-steps", type=int, default=STAGES["vae"]["steps"], help="the VAE stage's step target")
    ap.add_argument("--unet-steps", type=int, default=STAGES["unet"]["steps"], help="the UNet stage's step target")
    args = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    deadline = time.time() + args.minutes * 60
    counts = {n: sum(p.numel() for p in f().parameters()) for n, f in
              (("vae", make_vae), ("text_encoder", make_text), ("unet", make_unet))}
    log("parameters:", counts, f"f16 bytes {2 * sum(counts.values())} + tokenizer")
    for stage in args.stages:
        log("stage", stage)
        if stage == "vae":
            train_vae(args, dev, deadline)
        elif stage == "unet":
            train_unet(args, dev, deadline)
        elif stage == "export":
            export(args)
        elif stage == "sample":
            sample(args, dev)


if __name__ == "__main__":
    main()
