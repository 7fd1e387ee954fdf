#!/usr/bin/env python3
"""Writes a Stable Diffusion 1.5 pipeline folder in diffusers' layout with random fp16 weights: the real
architecture and file sizes (1.7 GB), for timing how long a model takes to open from disk (model-ready time:
js/bench-node.mjs --ready) on a machine where no real model can be downloaded. Needs torch + transformers and the
diffusers source of ../shared/peers (diffusers-src.tar.xz unpacked), and the CLIP tokenizer fixture:

  python3 scripts/make_random_model.py DIFFUSERS_SRC TOKENIZER_DIR OUT_DIR

The networks' configs are the published SD 1.5 ones (the same as ../shared/peers/torch_peer.py's)."""
import json, os, shutil, sys

src, tokenizer, out = sys.argv[1:4]
sys.path.insert(0, src)
import torch
from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768, attention_head_dim=8)
VAE = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
           up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
           latent_channels=4, sample_size=512)
CLIP = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                      num_attention_heads=12, max_position_embeddings=77, hidden_act='quick_gelu', projection_dim=768)

device = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.manual_seed(0)
os.makedirs(out, exist_ok=True)
for name, make in (('unet', lambda: UNet2DConditionModel(**UNET)), ('vae', lambda: AutoencoderKL(**VAE)),
                   ('text_encoder', lambda: CLIPTextModel(CLIP))):
    with torch.device(device):
        net = make()
    net.to(torch.float16).cpu().save_pretrained(os.path.join(out, name), safe_serialization=True)
    del net
PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule='scaled_linear', skip_prk_steps=True,
              steps_offset=1).save_config(os.path.join(out, 'scheduler'))
os.makedirs(os.path.join(out, 'tokenizer'), exist_ok=True)
for f in ('vocab.json', 'merges.txt'):
    shutil.copy(os.path.join(tokenizer, f), os.path.join(out, 'tokenizer', f))
with open(os.path.join(out, 'model_index.json'), 'w') as f:
    json.dump({'_class_name': 'StableDiffusionPipeline', '_diffusers_version': '0.31.0',
               'scheduler': ['diffusers', 'PNDMScheduler'], 'text_encoder': ['transformers', 'CLIPTextModel'],
               'tokenizer': ['transformers', 'CLIPTokenizer'], 'unet': ['diffusers', 'UNet2DConditionModel'],
               'vae': ['diffusers', 'AutoencoderKL'], 'safety_checker': [None, None],
               'feature_extractor': [None, None], 'requires_safety_checker': False}, f, indent=1)
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
print(json.dumps({'model': out, 'bytes': size}))
