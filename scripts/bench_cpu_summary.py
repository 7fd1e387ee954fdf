"""The table scripts/bench-cpu.sh prints: medians over its rounds of websd and the PyTorch peer, with ratios.
Usage: python3 scripts/bench_cpu_summary.py RESULTS_DIR   (also writes RESULTS_DIR/summary.json)"""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1]


def load(pattern):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, pattern)))]


def websd_ms(rows, name):
    return [r["networks"][name]["ms"] / 1000 for r in rows if name in r.get("networks", {})]


def spread(values):
    return f"{statistics.median(values):7.2f} s ({min(values):.2f}-{max(values):.2f})" if values else "      -"


rows = []
for net, websd_name in (("unet", "unet"), ("vae", "vae decoder")):
    w = websd_ms(load(f"websd-{net}-*.json"), websd_name)
    t = [r["median_s"] for r in load(f"torch-{net}-*.json")]
    ratio = statistics.median(w) / statistics.median(t) if w and t else None
    rows.append({"network": net, "websd_s": w, "torch_s": t, "websd_over_torch": ratio})

all_runs = load("websd-all.json")
info = all_runs[0] if all_runs else {}
first = (load("websd-unet-*.json") or [{}])[0]
print(f"websd bench beside PyTorch (diffusers), {first.get('arch', '?')} {first.get('width', '?')}x"
      f"{first.get('height', '?')}, {first.get('threads', '?')} threads, websd weights {first.get('weights', '?')}, "
      f"PyTorch fp32; medians of {len(rows[0]['websd_s'])} interleaved rounds")
print(f"  {info.get('backend', '')}: {info.get('choices', '')}")
print(f"  {'network':8} {'websd':>28} {'PyTorch':>28} {'websd / PyTorch':>16}")
for r in rows:
    ratio = f"{r['websd_over_torch']:.2f}x" if r["websd_over_torch"] else "-"
    print(f"  {r['network']:8} {spread(r['websd_s']):>28} {spread(r['torch_s']):>28} {ratio:>16}")
if info:
    nets = ", ".join(f"{k} {v['ms'] / 1000:.2f} s" for k, v in info.get("networks", {}).items())
    print(f"  websd, every network in one process: {nets}; peak RSS {info['peak_rss_bytes'] / 2**20:.0f} MiB")
    print(f"  sgemm 2048^3: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in info.get("sgemm_gflops", {}).items()))
json.dump({"rows": rows, "websd_all": info}, open(os.path.join(out, "summary.json"), "w"), indent=2)
