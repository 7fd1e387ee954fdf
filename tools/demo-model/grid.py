"""Draws the evaluation captions with the websd command-line tool (the CPU backend, the model's own sampler and
steps, the default guidance, each case's seed) into one PNG with each caption under its picture, marked with the
acceptance test's verdict. Needs Pillow and numpy (Debian: python3-pil python3-numpy).
  python3 tools/demo-model/grid.py [--kind held_out|training] [--out docs/demo-model-held-out.png]
"""
import argparse
import json
import os
import subprocess
import tempfile
import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import vocabulary as V

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..", "..")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="held_out", choices=["held_out", "training"])
    ap.add_argument("--out", default=os.path.join(root, "docs", "demo-model-held-out.png"))
    ap.add_argument("--websd", default=os.path.join(root, "build", "native-release", "src", "websd"))
    ap.add_argument("--model", default=os.path.join(root, "models", "websd-shapes"))
    ap.add_argument("--columns", type=int, default=8)
    a = ap.parse_args()
    with open(os.path.join(here, "evaluation.json")) as f:
        spec = json.load(f)
    cases = spec[a.kind]
    scale, text_h, pad = 2, 58, 6
    font = ImageFont.load_default()
    tiles, passed = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, case in enumerate(cases):
            out = os.path.join(tmp, f"{k}.png")
            subprocess.run([a.websd, "generate", "--model", a.model, "--prompt", case["caption"],
                            "--seed", str(case["seed"]), "-o", out], check=True, capture_output=True)
            img = Image.open(out).convert("RGB")
            ok = V.score(np.array(img), case, spec)
            passed += all(ok)
            tiles.append((img, case["caption"], ok))
    w, h = tiles[0][0].size
    tw, th = w * scale + pad, h * scale + text_h
    rows = (len(tiles) + a.columns - 1) // a.columns
    sheet = Image.new("RGB", (a.columns * tw + pad, rows * th + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (img, caption, ok) in enumerate(tiles):
        x, y = pad + (k % a.columns) * tw, pad + (k // a.columns) * th
        sheet.paste(img.resize((w * scale, h * scale), Image.NEAREST), (x, y))
        mark = "" if all(ok) else " [missed: " + ", ".join(
            n for n, good in zip(("colour", "background"), ok) if not good) + "]"
        lines = textwrap.wrap(caption + mark, width=42)
        draw.multiline_text((x, y + h * scale + 3), "\n".join(lines), fill="black" if all(ok) else "#c00000",
                            font=font, spacing=2)
    sheet.save(a.out, optimize=True)
    print(f"{a.out}: {len(cases)} {a.kind} captions, {passed} pass both checks")


if __name__ == "__main__":
    main()
