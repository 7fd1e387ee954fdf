"""Draws scenes from vocabulary.CaptionSampler as images, on whatever device torch runs on: each shape is an
inside-test on a pixel grid at twice the resolution, averaged down (anti-aliased edges). All objects of one shape
are drawn at once (training renders hundreds of scenes a step on the GPU)."""
import math

import torch

import vocabulary as V

SUPERSAMPLE = 2
# Radius of a shape as a fraction of a grid cell's side, and how far sizes and centres vary (times the scene's
# jitter in [-1, 1]).
RADIUS = {"small": 0.24, "big": 0.40}
SIZE_JITTER = 0.10
CENTRE_JITTER = 0.08


def inside(shape, u, v):
    """Is (u, v) inside the shape of radius 1 centred at 0? v points down, as in images."""
    r = torch.sqrt(u * u + v * v)
    if shape == "circle":
        return r <= 1.0
    if shape == "ring":
        return (r <= 1.0) & (r >= 0.55)
    if shape == "square":
        return torch.maximum(u.abs(), v.abs()) <= 0.8
    if shape == "diamond":
        return u.abs() + v.abs() <= 1.0
    if shape == "cross":
        au, av = u.abs(), v.abs()
        return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
    if shape == "triangle":  # apex up at v = -0.9, base at v = 0.75
        return (v <= 0.75) & (u.abs() <= 0.95 * (v + 0.9) / 1.65)
    if shape == "star":  # five points at radius 1, inner corners at radius 0.45
        theta = torch.atan2(u, -v)  # 0 at the top point
        seg = 2 * math.pi / 5
        phi = seg / 2 - (torch.remainder(theta, seg) - seg / 2).abs()  # angle from the nearest point
        # The edge from the point (1, 0) to the inner corner (0.45 at angle seg/2), in the frame of the point;
        # edge_r is where the ray at angle phi crosses it.
        bx, by = 0.45 * math.cos(seg / 2), 0.45 * math.sin(seg / 2)
        ex, ey = bx - 1.0, by
        edge_r = ey / (torch.cos(phi) * ey - torch.sin(phi) * ex)
        return r <= edge_r
    if shape == "heart":  # (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y up
        x = u * 1.15
        y = -v * 1.15 + 0.2
        return (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0
    raise ValueError(shape)


def render(scenes, size, device):
    """Images [B, 3, size, size] in [-1, 1] for a list of scenes (dicts from CaptionSampler.scene())."""
    n = len(scenes)
    s = size * SUPERSAMPLE
    cell = size / 3
    coords = (torch.arange(s, device=device, dtype=torch.float32) + 0.5) / SUPERSAMPLE
    palette = {k: torch.tensor(v, dtype=torch.float32) for k, v in V.COLOURS.items()}
    bg = torch.stack([palette[sc["background"]] for sc in scenes]).to(device)
    img = bg.view(n, 3, 1, 1).expand(n, 3, s, s).clone()
    # Objects never overlap (one per cell), so they can be drawn in any order: group them by shape and by their
    # slot in the scene (one image gets at most one object per group).
    groups = {}
    for i, sc in enumerate(scenes):
        for j, o in enumerate(sc["objects"]):
            groups.setdefault((o["shape"], j), []).append((i, o))
    for (shape, _), members in groups.items():
        idx = torch.tensor([i for i, _ in members], device=device)
        params = []
        for _, o in members:
            col, row = V.POSITIONS[o["pos"]]
            jx, jy, jr = o["jitter"]
            params.append([(col + 0.5 + CENTRE_JITTER * jx) * cell, (row + 0.5 + CENTRE_JITTER * jy) * cell,
                           RADIUS[o["size"]] * (1 + SIZE_JITTER * jr) * cell])
        p = torch.tensor(params, device=device)
        cx, cy, rad = (p[:, k].view(-1, 1, 1) for k in range(3))
        u = (coords.view(1, 1, s) - cx) / rad
        v = (coords.view(1, s, 1) - cy) / rad
        mask = inside(shape, u.expand(-1, s, s), v.expand(-1, s, s)).unsqueeze(1)
        colour = torch.stack([palette[o["colour"]] for _, o in members]).to(device).view(-1, 3, 1, 1)
        img[idx] = torch.where(mask, colour, img[idx])
    img = torch.nn.functional.avg_pool2d(img, SUPERSAMPLE)
    return img / 127.5 - 1


def to_uint8(x):
    """[-1, 1] images [B, 3, H, W] to uint8 arrays [B, H, W, 3]."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()


def contact_sheet(images, columns):
    """uint8 [B, H, W, 3] tiled into one PIL image."""
    from PIL import Image
    b, h, w, _ = images.shape
    rows = (b + columns - 1) // columns
    sheet = Image.new("RGB", (columns * w, rows * h))
    for k in range(b):
        sheet.paste(Image.fromarray(images[k]), ((k % columns) * w, (k // columns) * h))
    return sheet


if __name__ == "__main__":  # a contact sheet of training scenes, for looking at
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="scenes.png")
    ap.add_argument("--size", type=int, default=128)
    a = ap.parse_args()
    sampler = V.CaptionSampler(0)
    scenes = [sampler.scene() for _ in range(16)]
    contact_sheet(to_uint8(render(scenes, a.size, "cpu")), 4).save(a.out)
    for k, sc in enumerate(scenes):
        print(k, sc["caption"])
