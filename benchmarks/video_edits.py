"""Video edits the benchmark applies itself, modelled on the Video Similarity Challenge 2022 (VSC22)
transformations, each with randomised parameters.

An edit is a :class:`Plan`: what happens to each frame (``spatial``, RGB in, RGB out), how time is remapped (``speed``: the output plays ``speed`` times
faster; ``fps``: the output frame rate) and how hard the file is compressed (``crf``). Edits that
need unrelated footage (picture-in-picture, stacking) draw it from ``Unrelated``, a reader over
footage that is never registered. Combinations chain two or three plans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Frame = np.ndarray  # h x w x 3 uint8 RGB
Spatial = Callable[[Frame, float], Frame]  # (frame, time in the output) -> frame
DEFAULT_CRF = 23


class Unrelated(Protocol):
    def at(self, t: float, width: int, height: int) -> Frame: ...


@dataclass
class Plan:
    """What one edit does: per frame, to time, to compression."""

    name: str
    spatial: list[Spatial] = field(default_factory=list)
    speed: float = 1.0
    fps: float | None = None  # None: the source's rate
    crf: int = DEFAULT_CRF
    whole_query: bool = False  # applies to the filler too (a re-encode, a rescale of the whole file)

    def apply(self, frame: Frame, t: float) -> Frame:
        for fn in self.spatial:
            frame = fn(frame, t)
        return frame


def _img(frame: Frame) -> Image.Image:
    return Image.fromarray(frame)


def _resize(frame: Frame, w: int, h: int) -> Frame:
    return np.asarray(_img(frame).resize((max(2, w), max(2, h)), Image.Resampling.BILINEAR))


# -- edits; each takes rng (and the unrelated-footage reader) and returns a Plan -----------------


def reencode(rng: np.random.Generator, _u: Unrelated) -> Plan:
    return Plan("reencode", crf=int(rng.integers(38, 45)), whole_query=True)


def scale_half(rng: np.random.Generator, _u: Unrelated) -> Plan:
    return Plan("scale_0.5", [lambda f, _t: _resize(f, f.shape[1] // 2, f.shape[0] // 2)], whole_query=True)


def scale_360p(rng: np.random.Generator, _u: Unrelated) -> Plan:
    def fn(f: Frame, _t: float) -> Frame:
        h = 360 if f.shape[0] < 360 else 240  # a rescale either way: up to 360p, or down from it
        return _resize(f, round(f.shape[1] * h / f.shape[0]), h)

    return Plan("scale_360p", [fn], whole_query=True)


def crop(rng: np.random.Generator, _u: Unrelated) -> Plan:
    keep_w, keep_h = rng.uniform(0.75, 0.9, 2)
    pos = rng.uniform(0, 1, 2)

    def fn(f: Frame, _t: float) -> Frame:
        h, w = f.shape[:2]
        cw, ch = int(w * keep_w), int(h * keep_h)
        x0, y0 = int((w - cw) * pos[0]), int((h - ch) * pos[1])
        return f[y0 : y0 + ch, x0 : x0 + cw]

    return Plan("crop_10-25%", [fn])


def letterbox(rng: np.random.Generator, _u: Unrelated) -> Plan:
    bar = rng.uniform(0.1, 0.25)
    horizontal = bool(rng.integers(0, 2))
    colour = (0, 0, 0) if rng.random() < 0.7 else tuple(int(c) for c in rng.integers(0, 256, 3))

    def fn(f: Frame, _t: float) -> Frame:
        h, w = f.shape[:2]
        pad = int((h if horizontal else w) * bar / 2)
        shape = (h + 2 * pad, w, 3) if horizontal else (h, w + 2 * pad, 3)
        out = np.empty(shape, np.uint8)
        out[:] = colour
        if horizontal:
            out[pad : pad + h] = f
        else:
            out[:, pad : pad + w] = f
        return out

    return Plan("letterbox", [fn])


def hflip(rng: np.random.Generator, _u: Unrelated) -> Plan:
    return Plan("hflip", [lambda f, _t: np.ascontiguousarray(f[:, ::-1])])


def vflip(rng: np.random.Generator, _u: Unrelated) -> Plan:
    return Plan("vflip", [lambda f, _t: np.ascontiguousarray(f[::-1])])


def _rotate(f: Frame, degrees: float) -> Frame:
    return np.asarray(_img(f).rotate(degrees, resample=Image.Resampling.BILINEAR, expand=False))


def rotate5(rng: np.random.Generator, _u: Unrelated) -> Plan:
    angle = float(rng.uniform(4, 5) * rng.choice([-1, 1]))
    return Plan("rotate_5", [lambda f, _t: _rotate(f, angle)])


def rotate90(rng: np.random.Generator, _u: Unrelated) -> Plan:
    k = int(rng.choice([1, 3]))
    return Plan("rotate_90", [lambda f, _t: np.ascontiguousarray(np.rot90(f, k))])


def grayscale(rng: np.random.Generator, _u: Unrelated) -> Plan:
    def fn(f: Frame, _t: float) -> Frame:
        y = f.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.repeat(np.clip(y, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)

    return Plan("grayscale", [fn])


def brightness(rng: np.random.Generator, _u: Unrelated) -> Plan:
    delta = float(rng.uniform(30, 70) * rng.choice([-1, 1]))
    return Plan("brightness", [lambda f, _t: np.clip(f.astype(np.float32) + delta, 0, 255).astype(np.uint8)])


def contrast(rng: np.random.Generator, _u: Unrelated) -> Plan:
    k = float(rng.uniform(0.45, 0.7) if rng.random() < 0.5 else rng.uniform(1.3, 1.7))

    def fn(f: Frame, _t: float) -> Frame:
        x = f.astype(np.float32)
        return np.clip((x - x.mean()) * k + x.mean(), 0, 255).astype(np.uint8)

    return Plan("contrast", [fn])


def colour(rng: np.random.Generator, _u: Unrelated) -> Plan:
    gains = rng.uniform(0.6, 1.4, 3).astype(np.float32)
    saturation = float(rng.uniform(0.3, 1.8))

    def fn(f: Frame, _t: float) -> Frame:
        x = f.astype(np.float32) * gains
        grey = x.mean(axis=2, keepdims=True)
        return np.clip(grey + (x - grey) * saturation, 0, 255).astype(np.uint8)

    return Plan("colour_jitter", [fn])


def blur(rng: np.random.Generator, _u: Unrelated) -> Plan:
    radius = float(rng.uniform(1.5, 4.0))
    return Plan("blur", [lambda f, _t: np.asarray(_img(f).filter(ImageFilter.GaussianBlur(radius)))])


def noise(rng: np.random.Generator, _u: Unrelated) -> Plan:
    sigma = float(rng.uniform(10, 25))
    frame_rng = np.random.default_rng(int(rng.integers(0, 2**31)))

    def fn(f: Frame, _t: float) -> Frame:
        n = frame_rng.normal(0, sigma, f.shape).astype(np.float32)
        return np.clip(f.astype(np.float32) + n, 0, 255).astype(np.uint8)

    return Plan("noise", [fn])


def pixelize(rng: np.random.Generator, _u: Unrelated) -> Plan:
    block = int(rng.integers(4, 11))

    def fn(f: Frame, _t: float) -> Frame:
        h, w = f.shape[:2]
        small = _img(f).resize((max(1, w // block), max(1, h // block)), Image.Resampling.BOX)
        return np.asarray(small.resize((w, h), Image.Resampling.NEAREST))

    return Plan("pixelize", [fn])


_WORDS = [
    "breaking",
    "news",
    "live",
    "exclusive",
    "watch",
    "now",
    "subscribe",
    "official",
    "trailer",
    "fan",
    "edit",
    "4k",
    "hd",
    "remix",
    "full",
    "episode",
]


def text(rng: np.random.Generator, _u: Unrelated) -> Plan:
    lines = [" ".join(rng.choice(_WORDS, int(rng.integers(2, 5)))) for _ in range(int(rng.integers(1, 4)))]
    size_share = float(rng.uniform(0.05, 0.1))
    pos = rng.uniform(0, 0.7, 2)
    fill = tuple(int(c) for c in rng.integers(0, 256, 3))

    def fn(f: Frame, _t: float) -> Frame:
        img = _img(f).copy()
        draw = ImageDraw.Draw(img)
        size = max(8, int(f.shape[0] * size_share))
        font = ImageFont.load_default(size)
        x, y = int(f.shape[1] * pos[0]), int(f.shape[0] * pos[1])
        for i, line in enumerate(lines):
            draw.text(
                (x, y + i * size * 1.2), line, fill=fill, font=font, stroke_width=1, stroke_fill=(0, 0, 0)
            )
        return np.asarray(img)

    return Plan("text", [fn])


def _emoji(side: int, rng: np.random.Generator) -> Image.Image:
    """A logo or emoji-like sticker: a coloured disc or badge with a face or initials."""
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    if rng.random() < 0.5:
        draw.ellipse(
            (0, 0, side - 1, side - 1),
            fill=(255, 204, 0, 255),
            outline=(120, 80, 0, 255),
            width=max(1, side // 30),
        )
        e = side // 8
        draw.ellipse(
            (side * 0.3 - e, side * 0.35 - e, side * 0.3 + e, side * 0.35 + e), fill=(60, 40, 0, 255)
        )
        draw.ellipse(
            (side * 0.7 - e, side * 0.35 - e, side * 0.7 + e, side * 0.35 + e), fill=(60, 40, 0, 255)
        )
        draw.arc(
            (side * 0.25, side * 0.4, side * 0.75, side * 0.8),
            20,
            160,
            fill=(60, 40, 0, 255),
            width=max(2, side // 20),
        )
    else:
        draw.rounded_rectangle(
            (0, side // 4, side - 1, side * 3 // 4), radius=side // 10, fill=(*colour, 230)
        )
        font = ImageFont.load_default(max(8, side // 4))
        letters = "".join(rng.choice(list("ABCDEFGHKMNPRSTVXZ"), 3))
        draw.text((side * 0.1, side * 0.33), letters, fill=(255, 255, 255, 255), font=font)
    return img


def logo(rng: np.random.Generator, _u: Unrelated) -> Plan:
    area = float(rng.uniform(0.05, 0.2))
    pos = rng.uniform(0, 1, 2)
    sticker_seed = int(rng.integers(0, 2**31))

    def fn(f: Frame, _t: float) -> Frame:
        h, w = f.shape[:2]
        side = max(8, int(np.sqrt(area * h * w)))
        side = min(side, h, w)
        sticker = _emoji(side, np.random.default_rng(sticker_seed))
        img = _img(f).copy()
        img.paste(sticker, (int((w - side) * pos[0]), int((h - side) * pos[1])), sticker)
        return np.asarray(img)

    return Plan("logo_<=20%", [fn])


def pip(rng: np.random.Generator, unrelated: Unrelated) -> Plan:
    share = float(rng.uniform(0.4, 0.6))
    pos = rng.uniform(0, 1, 2)

    def fn(f: Frame, t: float) -> Frame:
        h, w = f.shape[:2]
        out = unrelated.at(t, w, h).copy()
        iw, ih = int(w * share), int(h * share)
        x0, y0 = int((w - iw) * pos[0]), int((h - ih) * pos[1])
        out[y0 : y0 + ih, x0 : x0 + iw] = _resize(f, iw, ih)
        return out

    return Plan("pip_40-60%", [fn])


def _stack(name: str, layout: tuple[int, int], rng: np.random.Generator, unrelated: Unrelated) -> Plan:
    rows, cols = layout
    cell = int(rng.integers(0, rows * cols))

    def fn(f: Frame, t: float) -> Frame:
        h, w = f.shape[:2]
        # Every cell keeps the source's size; the query writer scales the result to fit its box.
        out = np.empty((h * rows, w * cols, 3), np.uint8)
        for i in range(rows * cols):
            r, c = divmod(i, cols)
            out[r * h : (r + 1) * h, c * w : (c + 1) * w] = (
                f if i == cell else unrelated.at(t + 7.0 * i, w, h)
            )
        return out

    return Plan(name, [fn])


def hstack(rng: np.random.Generator, unrelated: Unrelated) -> Plan:
    return _stack("hstack_2-3", (1, int(rng.integers(2, 4))), rng, unrelated)


def vstack(rng: np.random.Generator, unrelated: Unrelated) -> Plan:
    return _stack("vstack_2-3", (int(rng.integers(2, 4)), 1), rng, unrelated)


def grid(rng: np.random.Generator, unrelated: Unrelated) -> Plan:
    return _stack("grid_2x2", (2, 2), rng, unrelated)


def fps15(rng: np.random.Generator, _u: Unrelated) -> Plan:
    return Plan("fps_15", fps=15.0)


def fps60(rng: np.random.Generator, _u: Unrelated) -> Plan:
    return Plan("fps_60", fps=60.0)


def speed(rng: np.random.Generator, _u: Unrelated) -> Plan:
    return Plan("speed_0.5-2x", speed=float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))))


MILD = (
    reencode, scale_half, crop, letterbox, hflip, grayscale, brightness, contrast, colour, blur, noise,
    text, logo, fps15, speed,
)  # fmt: skip


def combine(plans: list[Plan], name: str) -> Plan:
    """The plans applied one after the other."""
    out = Plan(name)
    for p in plans:
        out.spatial += p.spatial
        out.speed *= p.speed
        out.fps = p.fps or out.fps
        out.crf = max(out.crf, p.crf)
    return out


def combo(n: int) -> Callable[[np.random.Generator, Unrelated], Plan]:
    def make(rng: np.random.Generator, unrelated: Unrelated) -> Plan:
        picks = rng.choice(len(MILD), n, replace=False)
        plans = [MILD[int(i)](rng, unrelated) for i in picks]
        return combine(plans, f"combo_{n}")

    return make


REGISTRY: dict[str, Callable[[np.random.Generator, Unrelated], Plan]] = {
    "reencode_crf38-44": reencode,
    "scale_0.5": scale_half,
    "scale_360p": scale_360p,
    "grayscale": grayscale,
    "brightness": brightness,
    "contrast": contrast,
    "colour_jitter": colour,
    "blur": blur,
    "noise": noise,
    "pixelize": pixelize,
    "fps_15": fps15,
    "fps_60": fps60,
    "speed_0.5-2x": speed,
    "letterbox": letterbox,
    "crop_10-25%": crop,
    "hflip": hflip,
    "vflip": vflip,
    "rotate_90": rotate90,
    "text": text,
    "logo_<=20%": logo,
    "rotate_5": rotate5,
    "pip_40-60%": pip,
    "hstack_2-3": hstack,
    "vstack_2-3": vstack,
    "grid_2x2": grid,
    "combo_2": combo(2),
    "combo_3": combo(3),
}

GOALS: dict[str, int] = {
    **dict.fromkeys(
        ["reencode_crf38-44", "scale_0.5", "scale_360p", "grayscale", "brightness", "contrast", "colour_jitter",
         "blur", "noise", "fps_15", "fps_60", "speed_0.5-2x"], 99),
    **dict.fromkeys(["letterbox", "crop_10-25%", "hflip", "vflip", "text", "logo_<=20%"], 95),
    **dict.fromkeys(["rotate_5", "pip_40-60%", "hstack_2-3", "vstack_2-3", "grid_2x2"], 80),
}  # fmt: skip
