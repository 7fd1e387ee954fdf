"""What the demo model knows: colours, shapes, sizes, positions, the caption templates, and which
colour x shape x position combinations are held out of training.

One source of truth: `python3 vocabulary.py --write ../../models/websd-shapes/websd-shapes.json` writes the held-out
and training evaluation captions with the palette and grid that the acceptance test (tests/test_demo_model.cpp)
and score() below check images against.
"""
import argparse
import json
import random

# CSS named colour values, 0-255.
COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "orange": (255, 165, 0),
    "purple": (128, 0, 128),
    "pink": (255, 192, 203),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "brown": (165, 42, 42),
}
SHAPES = ["circle", "square", "triangle", "star", "ring", "cross", "heart", "diamond"]
SIZES = ["small", "big"]
# The cells of a 3x3 grid, (column, row); "left" is the middle row's left cell.
POSITIONS = {
    "top left": (0, 0), "top": (1, 0), "top right": (2, 0),
    "left": (0, 1), "center": (1, 1), "right": (2, 1),
    "bottom left": (0, 2), "bottom": (1, 2), "bottom right": (2, 2),
}
# One object: "{obj}" is "a [size] colour shape", "{pos}" a position name, "{bg}" the background colour.
SINGLE_TEMPLATES = [
    "{obj} on the {pos} on {bg_a} {bg} background",
    "{obj} at the {pos}, {bg} background",
    "{obj} in the {pos} on {bg_a} {bg} background",
    "{bg_a} {bg} background with {obj} on the {pos}",
    "{obj} on the {pos}, {bg} background",
]
# Two objects: "{first}" and "{second}" are "obj on the pos" phrases.
PAIR_TEMPLATES = [
    "{first} and {second} on {bg_a} {bg} background",
    "{first} and {second}, {bg} background",
    "{bg_a} {bg} background with {first} and {second}",
]
CANONICAL = SINGLE_TEMPLATES[0]
HELD_OUT_COUNT = 64  # of the 10 x 8 x 9 = 720 colour x shape x position triples
EVAL_COUNT = 32      # captions of each kind that the acceptance test draws


def all_triples():
    return [(c, s, p) for c in COLOURS for s in SHAPES for p in POSITIONS]


def held_out_triples():
    """A fixed, seeded choice; every colour, shape and position still appears in training."""
    return set(random.Random(20261201).sample(all_triples(), HELD_OUT_COUNT))


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def object_phrase(size, colour, shape, rng=None):
    """'a big red circle', 'an orange star'; training sometimes says 'a' where English says 'an'."""
    words = (size + " " if size else "") + colour + " " + shape
    a = article(words)
    if rng is not None and rng.random() < 0.1:
        a = "a"
    return a + " " + words


def position_phrase(rng, pos):
    prep = rng.choice(["on the", "at the", "in the"])
    return prep + " " + pos


class CaptionSampler:
    """Draws scenes (object attributes) and their captions for training; never a held-out triple."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        held = held_out_triples()
        self.allowed = [t for t in all_triples() if t not in held]

    def scene(self):
        rng = self.rng
        n = 1 if rng.random() < 0.6 else 2
        objects = []
        while len(objects) < n:
            colour, shape, pos = rng.choice(self.allowed)
            if any(o["pos"] == pos or o["colour"] == colour for o in objects):
                continue
            size = rng.choice(SIZES)
            named = rng.random() < 0.7  # the size word is optional: unnamed sizes are either
            jitter = [rng.uniform(-1, 1) for _ in range(3)]  # centre x, centre y, radius (render.py scales them)
            objects.append({"colour": colour, "shape": shape, "pos": pos, "size": size, "size_named": named,
                            "jitter": jitter})
        bg = rng.choice([c for c in COLOURS if all(o["colour"] != c for o in objects)])
        return {"objects": objects, "background": bg, "caption": self.caption(objects, bg)}

    def caption(self, objects, bg):
        rng = self.rng
        phrases = [object_phrase(o["size"] if o["size_named"] else None, o["colour"], o["shape"], rng) for o in objects]
        if len(objects) == 1:
            t = rng.choice(SINGLE_TEMPLATES)
            return t.format(obj=phrases[0], pos=objects[0]["pos"], bg=bg, bg_a=article(bg))
        parts = [p + " " + position_phrase(rng, o["pos"]) for p, o in zip(phrases, objects)]
        return rng.choice(PAIR_TEMPLATES).format(first=parts[0], second=parts[1], bg=bg, bg_a=article(bg))


def eval_cases(held_out, count, seed):
    """Single-object captions in the canonical form, of held-out triples (or of training ones)."""
    rng = random.Random(seed)
    pool = sorted(held_out_triples()) if held_out else sorted(set(all_triples()) - held_out_triples())
    cases = []
    for colour, shape, pos in rng.sample(pool, count):
        bg = rng.choice([c for c in COLOURS if c != colour])
        size = rng.choice(SIZES)
        cases.append({"caption": CANONICAL.format(obj=object_phrase(size, colour, shape), pos=pos, bg=bg, bg_a=article(bg)),
                      "colour": colour, "shape": shape, "position": pos, "size": size, "background": bg,
                      "seed": rng.randrange(1 << 31)})
    return cases


def score(image, case, spec):
    """The acceptance rule (tests/test_demo_model.cpp and the web e2e check the same), on a uint8 [H, W, 3] array:
    nearest-palette classes; the named colour dominates the named cell's non-background pixels; the background
    colour dominates a border 4 pixels wide. Returns (colour ok, background ok)."""
    import numpy as np  # here, so that the rest of this file needs nothing beyond Python
    names = list(spec["palette"])
    pal = np.array([spec["palette"][n] for n in names], dtype=np.float32)
    h, w, _ = image.shape
    cls = np.argmin(((image[:, :, None, :].astype(np.float32) - pal[None, None]) ** 2).sum(-1), axis=-1)
    bg = names.index(case["background"])
    col, row = spec["grid"][case["position"]]
    cell = cls[row * h // 3:(row + 1) * h // 3, col * w // 3:(col + 1) * w // 3]
    fg = np.bincount(cell[cell != bg].ravel(), minlength=len(names))
    colour_ok = fg.sum() > 0 and int(fg.argmax()) == names.index(case["colour"])
    border = np.concatenate([cls[:4].ravel(), cls[-4:].ravel(), cls[:, :4].ravel(), cls[:, -4:].ravel()])
    background_ok = int(np.bincount(border, minlength=len(names)).argmax()) == bg
    return colour_ok, background_ok


def spec():
    return {
        "palette": {k: list(v) for k, v in COLOURS.items()},
        "grid": {k: list(v) for k, v in POSITIONS.items()},
        "held_out_triples": sorted(list(t) for t in held_out_triples()),
        "held_out": eval_cases(True, EVAL_COUNT, 1),
        "training": eval_cases(False, EVAL_COUNT, 2),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", required=True, help="where the evaluation spec JSON goes")
    args = ap.parse_args()
    with open(args.write, "w") as f:
        json.dump(spec(), f, indent=1)
        f.write("\n")
