"""Drawn instruments that move with their own notes.

Each class has a recognisable drawing made of PIL primitives, with a moving part (bow, mallets,
bellows, strumming hand, valves, keys, bell) driven by the sound: ``env`` (loudness, 0..1) and
``onset`` (a decaying trace of note starts). The whole instrument also swells, bobs and tilts
with them, and stays still in rests. Drawings are made on their own RGBA layer, so the true box
is the layer's opaque extent.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

# Width / height of each drawing, and its resting tilt in degrees.
SHAPES = {
    "accordion": (1.25, 0.0),
    "acoustic_guitar": (0.42, -55.0),
    "cello": (0.5, 0.0),
    "clarinet": (0.16, 12.0),
    "flute": (5.0, -8.0),
    "saxophone": (0.6, 0.0),
    "trumpet": (2.6, 0.0),
    "tuba": (0.85, 0.0),
    "violin": (0.55, 35.0),
    "xylophone": (1.7, 0.0),
}
BASE_COLOURS = {  # RGB 0..1, varied per video
    "accordion": (0.75, 0.1, 0.12),
    "acoustic_guitar": (0.82, 0.58, 0.3),
    "cello": (0.45, 0.22, 0.08),
    "clarinet": (0.1, 0.1, 0.1),
    "flute": (0.78, 0.8, 0.84),
    "saxophone": (0.85, 0.65, 0.15),
    "trumpet": (0.9, 0.72, 0.2),
    "tuba": (0.8, 0.6, 0.12),
    "violin": (0.7, 0.32, 0.1),
    "xylophone": (0.7, 0.45, 0.2),
}


@dataclass(frozen=True)
class Look:
    """What stays fixed within one video."""

    cls: str
    colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    height: float  # pixels
    centre: tuple[float, float]  # pixels, the middle of the player's sway
    sway: tuple[float, float]  # pixels, how far the player sways left-right and up-down


def _rgb(c) -> tuple[int, int, int]:
    return tuple(int(np.clip(v, 0, 1) * 255) for v in c)


def random_look(cls: str, width: int, height: int, rng: np.random.Generator) -> Look:
    hue, light, sat = colorsys.rgb_to_hls(*BASE_COLOURS[cls])
    colour = colorsys.hls_to_rgb(
        (hue + rng.uniform(-0.04, 0.04)) % 1,
        np.clip(light * rng.uniform(0.8, 1.2), 0.05, 0.9),
        np.clip(sat * rng.uniform(0.8, 1.1), 0, 1),
    )
    accent = colorsys.hls_to_rgb(rng.uniform(0, 1), rng.uniform(0.3, 0.7), 0.6)
    aspect, tilt = SHAPES[cls]
    # Extent of the tilted drawing per unit of its height.
    angle = math.radians(tilt)
    unit_w = abs(aspect * math.cos(angle)) + abs(math.sin(angle))
    unit_h = abs(aspect * math.sin(angle)) + abs(math.cos(angle))
    # The player sways, as real players do, far enough along one axis that a static camera sees
    # the room behind every spot most of the time (so background subtraction can work): along
    # x for upright instruments, along y for wide ones.
    along_x = unit_w / width < unit_h / height
    reach = 0.85  # sway amplitude over the drawing's extent along that axis
    room = width if along_x else height
    extent = unit_w if along_x else unit_h
    largest = min(
        0.9 * room / (extent * (1 + 2 * reach)), 0.9 * width / unit_w, 0.9 * height / unit_h
    )
    # Sizes vary per video even where the sway leaves little room (wide instruments).
    size = min(height * rng.uniform(0.3, 0.55), largest * rng.uniform(0.6, 1.0))
    half_w, half_h = 0.5 * size * unit_w, 0.5 * size * unit_h
    if along_x:
        sway = (reach * 2 * half_w, min(0.05 * height, max(0.0, height / 2 - half_h)))
    else:
        sway = (min(0.05 * width, max(0.0, width / 2 - half_w)), reach * 2 * half_h)
    lo_x, hi_x = half_w + sway[0], width - half_w - sway[0]
    lo_y, hi_y = half_h + sway[1], height - half_h - sway[1]
    centre = (
        rng.uniform(lo_x, hi_x) if hi_x > lo_x else width / 2,
        rng.uniform(lo_y, hi_y) if hi_y > lo_y else height / 2,
    )
    return Look(cls, _rgb(colour), _rgb(accent), size, centre, sway)


def background(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A static backdrop: a muted gradient and faint clutter that never moves."""
    top = np.array(colorsys.hls_to_rgb(rng.uniform(0, 1), rng.uniform(0.55, 0.85), 0.25))
    bottom = top * rng.uniform(0.6, 0.95)
    ramp = np.linspace(0, 1, height)[:, None, None]
    image = ((1 - ramp) * top + ramp * bottom) * 255 * np.ones((height, width, 3))
    base = Image.fromarray(image.astype(np.uint8))
    clutter = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(clutter)
    for _ in range(int(rng.integers(5, 12))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.03, 0.15) * width
        fill = (
            *_rgb(colorsys.hls_to_rgb(rng.uniform(0, 1), rng.uniform(0.4, 0.8), 0.3)),
            int(rng.integers(25, 60)),
        )
        box = (x - r, y - r * rng.uniform(0.4, 1), x + r, y + r * rng.uniform(0.4, 1))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=fill)
    return Image.alpha_composite(base.convert("RGBA"), clutter).convert("RGB")


def _shade(c, k):
    return tuple(int(np.clip(v * k, 0, 255)) for v in c)


class _Pen:
    """Unit coordinates (x across the drawing's width, y down its height) to layer pixels."""

    def __init__(self, d: ImageDraw.ImageDraw, w: float, h: float, ox: float, oy: float):
        self.d, self.w, self.h, self.ox, self.oy = d, w, h, ox, oy

    def p(self, x, y):
        return (self.ox + x * self.w, self.oy + y * self.h)

    def box(self, x1, y1, x2, y2):
        (a, b), (c, e) = self.p(x1, y1), self.p(x2, y2)
        return (min(a, c), min(b, e), max(a, c), max(b, e))

    def ellipse(self, x1, y1, x2, y2, fill, outline=None, width=1):
        self.d.ellipse(self.box(x1, y1, x2, y2), fill=fill, outline=outline, width=width)

    def rect(self, x1, y1, x2, y2, fill, outline=None, width=1):
        self.d.rectangle(self.box(x1, y1, x2, y2), fill=fill, outline=outline, width=width)

    def poly(self, points, fill, outline=None):
        self.d.polygon([self.p(x, y) for x, y in points], fill=fill, outline=outline)

    def line(self, points, fill, width):
        self.d.line([self.p(x, y) for x, y in points], fill=fill, width=max(1, int(width)))


def _bowed(pen: _Pen, c, a, m, *, endpin: bool, line_w: float):
    dark = _shade(c, 0.45)
    pen.ellipse(0.12, 0.42, 0.88, 0.9, fill=c, outline=dark, width=2)  # lower bout
    pen.ellipse(0.2, 0.16, 0.8, 0.5, fill=c, outline=dark, width=2)  # upper bout
    pen.rect(0.3, 0.4, 0.7, 0.55, fill=c)  # waist
    pen.rect(0.44, 0.0, 0.56, 0.62, fill=(25, 20, 18))  # fingerboard
    pen.ellipse(0.4, -0.06, 0.6, 0.04, fill=dark)  # scroll
    for x in (0.33, 0.67):  # f-holes
        pen.line([(x, 0.5), (x - 0.02, 0.58), (x + 0.02, 0.66), (x, 0.72)], dark, line_w)
    pen.rect(0.38, 0.74, 0.62, 0.77, fill=(240, 230, 200))  # bridge
    for x in (0.465, 0.49, 0.51, 0.535):
        pen.line([(x, 0.02), (x, 0.86)], (220, 220, 220), max(1, line_w / 2))
    if endpin:
        pen.line([(0.5, 0.9), (0.5, 1.05)], (90, 90, 90), line_w * 1.5)
    # The bow crosses the strings; it travels while the instrument sounds.
    shift = 0.3 * math.sin(m["phase"])
    y = 0.68 + 0.03 * m["onset"]
    pen.line([(-0.25 + shift, y - 0.08), (1.0 + shift, y + 0.02)], (60, 40, 20), line_w * 3)
    pen.line([(-0.25 + shift, y - 0.05), (1.0 + shift, y + 0.05)], (235, 230, 215), line_w * 2)
    pen.rect(-0.3 + shift, y - 0.13, -0.2 + shift, y - 0.01, fill=a)  # frog


def draw_violin(pen, c, a, m, lw):
    _bowed(pen, c, a, m, endpin=False, line_w=lw)


def draw_cello(pen, c, a, m, lw):
    _bowed(pen, c, a, m, endpin=True, line_w=lw)


def draw_acoustic_guitar(pen, c, a, m, lw):
    dark = _shade(c, 0.5)
    pen.rect(0.42, -0.02, 0.58, 0.5, fill=(70, 45, 25))  # neck
    pen.rect(0.38, -0.1, 0.62, 0.02, fill=dark)  # headstock
    for y in np.linspace(0.05, 0.45, 8):  # frets
        pen.line([(0.42, y), (0.58, y)], (200, 200, 200), max(1, lw / 2))
    pen.ellipse(0.08, 0.55, 0.92, 1.0, fill=c, outline=dark, width=2)  # lower bout
    pen.ellipse(0.16, 0.38, 0.84, 0.72, fill=c, outline=dark, width=2)  # upper bout
    pen.ellipse(0.37, 0.56, 0.63, 0.7, fill=(20, 15, 10))  # sound hole
    pen.rect(0.35, 0.86, 0.65, 0.89, fill=dark)  # bridge
    wobble = 0.012 * m["env"]
    for i, x in enumerate(np.linspace(0.45, 0.55, 6)):
        sway = wobble * (1 if i % 2 else -1)
        pen.line([(x, 0.0), (x + sway, 0.6), (x, 0.87)], (230, 230, 230), max(1, lw / 2))
    hand_y = 0.62 + 0.14 * m["onset"]  # the strumming hand sweeps down on each note
    pen.ellipse(0.6, hand_y - 0.06, 0.95, hand_y + 0.06, fill=(230, 185, 150))


def draw_accordion(pen, c, a, m, lw):
    # The bellows breathe with the playing and jolt on each note.
    stretch = 0.1 * (0.5 + 0.5 * math.sin(m["phase"])) + 0.08 * m["onset"]
    left, right = 0.0, 0.62 + stretch
    pen.rect(left, 0.0, left + 0.26, 1.0, fill=c, outline=_shade(c, 0.5), width=2)
    for i in range(4):  # bass buttons
        for j in range(5):
            x, y = left + 0.06 + 0.05 * i, 0.2 + 0.14 * j
            pen.ellipse(x, y, x + 0.03, y + 0.04, fill=(240, 240, 240))
    folds = 9
    for i in range(folds):
        x1 = left + 0.26 + (right - left - 0.26) * i / folds
        x2 = left + 0.26 + (right - left - 0.26) * (i + 1) / folds
        tone = (40, 40, 45) if i % 2 else (235, 235, 225)
        pen.rect(x1, 0.06, x2, 0.94, fill=tone)
    pen.rect(right, 0.0, right + 0.38, 1.0, fill=c, outline=_shade(c, 0.5), width=2)
    for i in range(10):  # keyboard
        y = 0.06 + 0.088 * i
        pen.rect(right + 0.2, y, right + 0.36, y + 0.08, fill=(250, 250, 245), outline=(90, 90, 90))
        if i % 7 not in (2, 6):
            pen.rect(right + 0.2, y + 0.055, right + 0.29, y + 0.105, fill=(20, 20, 20))
    pen.rect(right + 0.04, 0.1, right + 0.16, 0.9, fill=a)  # grille


def _keys(pen, xs, ys, m, size, on=(250, 250, 210), off=(180, 180, 190)):
    lit = m["onset"] > 0.3
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        colour = on if lit and (i + int(m["t"] * 4)) % 3 == 0 else off
        pen.ellipse(x - size, y - size * 0.3, x + size, y + size * 0.3, fill=colour)


def draw_clarinet(pen, c, a, m, lw):
    pen.poly([(0.35, 0.05), (0.65, 0.05), (0.62, 0.85), (0.38, 0.85)], fill=c)
    pen.poly([(0.38, 0.83), (0.62, 0.83), (0.95, 1.0), (0.05, 1.0)], fill=c)  # bell
    pen.poly([(0.4, -0.04), (0.6, -0.04), (0.65, 0.06), (0.35, 0.06)], fill=(60, 60, 60))
    for y in (0.25, 0.5, 0.75):  # silver rings
        pen.rect(0.33, y, 0.67, y + 0.015, fill=(200, 200, 210))
    ys = np.linspace(0.15, 0.78, 8)
    _keys(pen, [0.5] * len(ys), ys, m, 0.1, off=(150, 150, 160))  # small keys on a dark tube


def draw_flute(pen, c, a, m, lw):
    pen.rect(0.0, 0.3, 1.0, 0.7, fill=c, outline=_shade(c, 0.6))
    pen.rect(0.08, 0.2, 0.14, 0.8, fill=_shade(c, 0.85))  # lip plate
    pen.ellipse(0.1, 0.4, 0.12, 0.6, fill=(30, 30, 30))  # embouchure hole
    for x in (0.3, 0.8):
        pen.rect(x, 0.25, x + 0.01, 0.75, fill=_shade(c, 0.7))
    xs = np.linspace(0.35, 0.9, 9)
    _keys(pen, xs, [0.5] * len(xs), m, 0.02, off=_shade(c, 0.75))


def draw_saxophone(pen, c, a, m, lw):
    dark = _shade(c, 0.6)
    pen.line([(0.42, 0.02), (0.55, -0.02), (0.62, 0.1)], (40, 40, 40), lw * 2)  # neck
    pen.poly([(0.55, 0.08), (0.68, 0.08), (0.5, 0.78), (0.36, 0.78)], fill=c, outline=dark)
    pen.ellipse(0.28, 0.62, 0.62, 1.0, fill=c, outline=dark, width=2)  # the U-bend
    pen.poly([(0.5, 0.82), (0.62, 0.78), (0.85, 0.35), (0.66, 0.4)], fill=c, outline=dark)
    flare = 1 + 0.25 * m["env"]  # the bell opens with the sound
    pen.ellipse(
        0.75 - 0.14 * flare,
        0.3 - 0.07 * flare,
        0.75 + 0.14 * flare,
        0.3 + 0.07 * flare,
        fill=_shade(c, 0.7),
        outline=dark,
        width=2,
    )
    ys = np.linspace(0.18, 0.7, 7)
    xs = 0.6 - (ys - 0.18) * 0.28
    _keys(pen, xs, ys, m, 0.05, off=_shade(c, 1.2))


def draw_trumpet(pen, c, a, m, lw):
    dark = _shade(c, 0.6)
    pen.rect(0.0, 0.42, 0.05, 0.58, fill=(190, 190, 190))  # mouthpiece
    pen.rect(0.05, 0.46, 0.72, 0.54, fill=c)  # leadpipe
    pen.rect(0.2, 0.6, 0.7, 0.68, fill=c)  # lower tubing
    pen.line([(0.2, 0.5), (0.15, 0.64), (0.2, 0.64)], c, lw * 3)
    for i, x in enumerate((0.36, 0.44, 0.52)):  # valves press with the notes
        press = 0.1 * m["onset"] if (i + int(m["t"] * 3)) % 2 == 0 else 0.0
        pen.rect(x, 0.3, x + 0.05, 0.72, fill=_shade(c, 0.9), outline=dark)
        pen.rect(x + 0.01, 0.18 + press, x + 0.04, 0.3 + press, fill=(200, 200, 200))
    flare = 1 + 0.2 * m["env"]
    pen.poly(
        [(0.72, 0.46), (0.72, 0.54), (1.0, 0.5 + 0.32 * flare), (1.0, 0.5 - 0.32 * flare)],
        fill=c,
        outline=dark,
    )
    pen.ellipse(0.97, 0.5 - 0.32 * flare, 1.03, 0.5 + 0.32 * flare, fill=_shade(c, 0.7))


def draw_tuba(pen, c, a, m, lw):
    dark = _shade(c, 0.6)
    pen.ellipse(0.1, 0.35, 0.9, 1.0, fill=c, outline=dark, width=3)  # coiled body
    pen.ellipse(0.28, 0.5, 0.72, 0.86, fill=_shade(c, 0.75), outline=dark, width=2)
    pen.rect(0.55, 0.12, 0.75, 0.55, fill=c, outline=dark)  # bell pipe
    flare = 1 + 0.15 * m["env"]
    pen.poly(
        [(0.55, 0.14), (0.75, 0.14), (0.65 + 0.33 * flare, -0.04), (0.65 - 0.33 * flare, -0.04)],
        fill=c,
        outline=dark,
    )
    pen.ellipse(0.65 - 0.33 * flare, -0.09, 0.65 + 0.33 * flare, 0.01, fill=_shade(c, 0.55))
    for i, x in enumerate((0.3, 0.38, 0.46)):
        press = 0.06 * m["onset"] if (i + int(m["t"] * 2)) % 2 == 0 else 0.0
        pen.rect(x, 0.3, x + 0.05, 0.55, fill=_shade(c, 0.9), outline=dark)
        pen.rect(x + 0.01, 0.22 + press, x + 0.04, 0.3 + press, fill=(200, 200, 200))
    pen.line([(0.12, 0.55), (0.0, 0.4), (0.08, 0.3)], (190, 190, 190), lw * 1.5)  # mouthpiece


def draw_xylophone(pen, c, a, m, lw):
    rail = _shade(c, 0.45)
    bars = 11
    for i in range(bars):
        x = 0.04 + i * 0.085
        shrink = 0.22 * i / bars  # bars shorten towards the high notes
        tone = c if i % 2 == 0 else _shade(c, 1.2)
        pen.rect(x, 0.35 + shrink / 2, x + 0.07, 0.95 - shrink / 2, fill=tone, outline=rail)
    pen.line([(0.0, 0.45), (1.0, 0.5)], rail, lw * 2)
    pen.line([(0.0, 0.85), (1.0, 0.78)], rail, lw * 2)
    # Two mallets strike: their heads drop onto the bars with each note.
    for k, x in enumerate((0.35, 0.62)):
        lift = 0.25 * (1 - m["onset"]) if k == int(m["t"] * 5) % 2 else 0.25
        head = (x + 0.05, 0.38 - lift)
        pen.line([(x + 0.25, 0.05 - lift), head], (110, 80, 50), lw * 3)
        pen.ellipse(head[0] - 0.035, head[1] - 0.05, head[0] + 0.035, head[1] + 0.05, fill=a)


DRAW = {name[len("draw_") :]: fn for name, fn in globals().items() if name.startswith("draw_")}


def draw_instrument(look: Look, motion: dict) -> Image.Image:
    """The instrument on a transparent layer, already swollen and tilted by ``motion``."""
    aspect, tilt = SHAPES[look.cls]
    height = look.height * (1 + 0.06 * motion["env"])
    width = height * aspect
    margin = 0.45 * max(width, height)  # room for bows, mallets and bells
    size = (int(width + 2 * margin) + 2, int(height + 2 * margin) + 2)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    pen = _Pen(ImageDraw.Draw(layer), width, height, margin, margin)
    DRAW[look.cls](pen, (*look.colour, 255), (*look.accent, 255), motion, max(1.0, height / 60))
    angle = tilt + 4.0 * motion["env"] * math.sin(2 * math.pi * 0.7 * motion["t"])
    return layer.rotate(angle, resample=Image.BILINEAR, expand=True)


def compose(base: Image.Image, look: Look, motion: dict) -> tuple[np.ndarray, np.ndarray]:
    """One video frame and the instrument's true box (x1, y1, x2, y2) in it."""
    layer = draw_instrument(look, motion)
    bob = -0.05 * look.height * motion["onset"]
    cx = look.centre[0] + look.sway[0] * math.sin(motion["sway"])
    cy = look.centre[1] + look.sway[1] * math.sin(motion["sway"] + 1.0)
    x = int(round(cx - layer.width / 2))
    y = int(round(cy - layer.height / 2 + bob))
    frame = base.copy()
    frame.paste(layer, (x, y), layer)
    alpha = np.asarray(layer.getchannel("A")) > 127
    box = np.zeros(4, dtype=np.float32)
    extent = Image.fromarray(alpha.astype(np.uint8) * 255).getbbox()
    if extent is not None:
        x1, y1, x2, y2 = extent
        box[:] = (max(0, x + x1), max(0, y + y1), min(base.width, x + x2), min(base.height, y + y2))
    return np.asarray(frame), box
