#!/usr/bin/env python3
"""The PyTorch peer of `websd bench --controlnet` on the GPU machine: the SD 1.5 UNet (batch 2, 512x512) alone and
with one ControlNet (diffusers' ControlNetModel.from_unet, as ControlNet training scripts make one), random weights,
fp16 in eager mode and replayed from a CUDA graph, and fp32 with TF32 off from a CUDA graph; medians of CUDA-event
timings, and the peak memory. Needs torch (present on the GPU machine) and the diffusers source of
../shared/peers/diffusers-src.tar.xz unpacked (scripts/bench-gpu.sh does):

  python3 scripts/peer_controlnet.py /tmp/peer/src"""
import json, sys
import torch
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else '/tmp/peer/src')
from diffusers import ControlNetModel, UNet2DConditionModel

SD15 = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768, attention_head_dim=8)


def median_ms(run, n):
    ts = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); run(); b.record(); torch.cuda.synchronize(); ts.append(a.elapsed_time(b))
    return sorted(ts)[len(ts) // 2]


def eager(f, n):
    for _ in range(2): f()
    torch.cuda.synchronize(); return median_ms(f, n)


def graphed(f, n):
    s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3): f()
    torch.cuda.current_stream().wait_stream(s); g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g): f()
    g.replay(); torch.cuda.synchronize(); return median_ms(g.replay, n)


print(json.dumps(dict(torch=torch.__version__, gpu=torch.cuda.get_device_name())), flush=True)
torch.backends.cuda.matmul.allow_tf32 = False; torch.backends.cudnn.allow_tf32 = False
for name, dt in (('fp16', torch.float16), ('fp32', torch.float32)):
    torch.manual_seed(0); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    unet = UNet2DConditionModel(**SD15).to('cuda', dt).eval()
    control = ControlNetModel.from_unet(unet).to('cuda', dt).eval()
    x = torch.randn(2, 4, 64, 64, device='cuda', dtype=dt); t = torch.tensor([500, 500], device='cuda')
    c = torch.randn(2, 77, 768, device='cuda', dtype=dt); image = torch.rand(2, 3, 512, 512, device='cuda', dtype=dt)

    def both():
        down, mid = control(x, t, encoder_hidden_states=c, controlnet_cond=image, return_dict=False)
        return unet(x, t, encoder_hidden_states=c, down_block_additional_residuals=down,
                    mid_block_additional_residual=mid)

    with torch.inference_mode():
        alone = lambda: unet(x, t, encoder_hidden_states=c)
        row = dict(precision=name, controlnet_params_m=sum(p.numel() for p in control.parameters()) / 1e6,
                   sd15_unet_b2_graph_ms=graphed(alone, 15), sd15_unet_controlnet_b2_graph_ms=graphed(both, 15))
        if dt == torch.float16:
            row.update(sd15_unet_b2_eager_ms=eager(alone, 15), sd15_unet_controlnet_b2_eager_ms=eager(both, 15))
    row['peak_gib'] = torch.cuda.max_memory_allocated() / 2 ** 30
    print(json.dumps(row), flush=True)
    del unet, control
