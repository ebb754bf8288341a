"""Seeded photographs of an evening landscape (210.thumbnailer, 120.uploader, 411's images)."""

import math
import random

LOW_RES = 8  # the scene is shaded at 1/8 resolution, then upscaled: smooth and fast


def _lerp(a, b, t):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def _hill_profile(rnd, width, base, amplitude):
    """Heights of one ridge line: a few seeded sine waves, smooth like hills."""
    waves = [(rnd.uniform(0.5, 4.0), rnd.uniform(0, 2 * math.pi), rnd.uniform(0.3, 1.0))
             for _ in range(4)]
    norm = sum(a for _, _, a in waves)
    return [base + amplitude * sum(a * math.sin(f * 2 * math.pi * x / width + p)
                                   for f, p, a in waves) / norm
            for x in range(width)]


def render(path, seed, image_size, quality=92):
    """Writes a JPEG of `image_size` (width, height) to `path`; the same seed and size give the
    same bytes with the same Pillow."""
    # Imported here so that generating other data does not need Pillow.
    from PIL import Image, ImageChops, ImageDraw, ImageFilter

    rnd = random.Random(seed)
    big_w, big_h = image_size
    w, h = big_w // LOW_RES, big_h // LOW_RES
    horizon = int(h * 0.62)
    sun = (w * rnd.uniform(0.3, 0.7), horizon - h * 0.12)

    # Ridges from far (pale, high) to near (dark, low), each with its colour.
    ridges = [(_hill_profile(rnd, w, horizon - h * 0.10, h * 0.08), (92, 70, 110)),
              (_hill_profile(rnd, w, horizon - h * 0.02, h * 0.07), (58, 44, 80)),
              (_hill_profile(rnd, w, horizon + h * 0.12, h * 0.09), (28, 30, 44)),
              (_hill_profile(rnd, w, horizon + h * 0.28, h * 0.06), (14, 18, 24))]
    zenith, dusk, glow = (12, 18, 58), (226, 118, 72), (255, 214, 140)

    pixels = []
    for y in range(h):
        for x in range(w):
            t = min(1.0, y / horizon) ** 1.6
            colour = _lerp(zenith, dusk, t)
            d = math.hypot(x - sun[0], (y - sun[1]) * 1.6) / w
            colour = _lerp(colour, glow, max(0.0, 1.0 - d * 3.0) ** 2)
            # The sun's disc, then the ridges from far to near, each painted with
            # its coverage of the pixel so that edges stay smooth when upscaled.
            cover = min(1.0, max(0.0, h * 0.035 - math.hypot(x - sun[0], y - sun[1]) + 0.5))
            colour = _lerp(colour, (255, 236, 190), cover)
            for heights, ridge_colour in ridges:
                cover = min(1.0, max(0.0, y + 1 - heights[x]))
                if cover > 0:
                    # Slightly lighter just below the ridge line: haze.
                    depth = min(1.0, max(0.0, y - heights[x]) / (h * 0.25))
                    hazy = _lerp(_lerp(ridge_colour, dusk, 0.15), ridge_colour, depth)
                    colour = _lerp(colour, hazy, cover)
            pixels.append(colour)
    scene = Image.new("RGB", (w, h))
    scene.putdata(pixels)
    scene = scene.resize(image_size, Image.BICUBIC)

    draw = ImageDraw.Draw(scene)
    # Stars in the upper, darker sky (as many per pixel at every size).
    for _ in range(2500 * big_w * big_h // 6_000_000):
        x, y = rnd.randrange(big_w), int(big_h * 0.45 * rnd.random() ** 1.5)
        v = rnd.randint(120, 255)
        s = rnd.choice((0, 0, 0, 1))
        draw.ellipse([x - s, y - s, x + s, y + s], fill=(v, v, min(255, v + 20)))
    scene = scene.filter(ImageFilter.GaussianBlur(0.6))  # soften like a lens

    # Sensor-like grain: zero-mean triangular noise per channel. This is what
    # makes the JPEG weigh ~2 MB instead of ~150 kB, like a real photograph.
    amp = 24
    table = [v * amp // 255 for v in range(256)]
    grain = []
    for _ in range(3):
        a = Image.frombytes("L", image_size, rnd.randbytes(big_w * big_h)).point(table)
        b = Image.frombytes("L", image_size, rnd.randbytes(big_w * big_h)).point(table)
        grain.append(ImageChops.add(a, b))
    noise = Image.merge("RGB", grain)
    # (scene + noise) - amp, clipped: centres the noise on zero.
    scene = ImageChops.add(scene, noise, scale=1.0, offset=-amp)

    scene.save(path, format="JPEG", quality=quality, optimize=True)
