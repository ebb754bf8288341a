#!/usr/bin/env python3
"""Generate the input data of SeBS benchmarks, deterministically and offline.

    python3 generate.py BENCH [BENCH...] [--root DIR]

BENCH is a benchmark name such as `210.thumbnailer` (a path such as
`200.multimedia/210.thumbnailer` works too). Data goes to `<root>/<name>/`,
`<root>` defaulting to this file's folder. A finished folder holds a `.generated`
stamp with the generator's version; a folder whose stamp matches is left alone.
Each folder is built in a temporary sibling and renamed into place, so an
interrupted run never leaves a half-made folder behind; concurrent runs for one
benchmark are serialised by a lock file. Benchmarks that need no data are
accepted and skipped.
"""

import argparse
import fcntl
import glob
import math
import os
import random
import shutil
import sys
import tempfile

STAMP = ".generated"


# --------------------------------------------------------------------------
# 210.thumbnailer: one ~2 MB JPEG of an evening landscape.
# --------------------------------------------------------------------------

THUMBNAILER_SEED = 210
IMAGE_NAME = "evening-landscape.jpg"
IMAGE_SIZE = (3000, 2000)
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


def make_thumbnailer(out_dir):
    # Imported here so that generating other data does not need Pillow.
    from PIL import Image, ImageChops, ImageDraw, ImageFilter

    rnd = random.Random(THUMBNAILER_SEED)
    big_w, big_h = IMAGE_SIZE
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
    scene = scene.resize(IMAGE_SIZE, Image.BICUBIC)

    draw = ImageDraw.Draw(scene)
    # Stars in the upper, darker sky.
    for _ in range(2500):
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
        a = Image.frombytes("L", IMAGE_SIZE, rnd.randbytes(big_w * big_h)).point(table)
        b = Image.frombytes("L", IMAGE_SIZE, rnd.randbytes(big_w * big_h)).point(table)
        grain.append(ImageChops.add(a, b))
    noise = Image.merge("RGB", grain)
    # (scene + noise) - amp, clipped: centres the noise on zero.
    scene = ImageChops.add(scene, noise, scale=1.0, offset=-amp)

    scene.save(os.path.join(out_dir, IMAGE_NAME), format="JPEG", quality=92,
               optimize=True)


# --------------------------------------------------------------------------
# 311.compression: a folder of ~40 text files, ~10 MB, compressing like text.
# --------------------------------------------------------------------------

COMPRESSION_SEED = 311
CORPUS_NAME = "text-corpus"
CORPUS_FILES = 40
CORPUS_BYTES = 10 * 1024 * 1024

# Frequent English words keep the text looking (and compressing) like prose.
COMMON = ("the of and to a in is that for it as was with be by on not he this are or "
          "his from at which but have an they you were her she there been one all we "
          "their has would when if more no out so said what up its about into than "
          "them can only other new some could time these two may then do first any my "
          "now such like our over man me even most made after also did many before "
          "must through back years where much your way well down should because each "
          "just those people how too little state good very make world still own see "
          "men work long get here between both life being under never day same another "
          "know while last might us great old year off come since against go came right "
          "used take three").split()
SYLLABLES = ("ka ri to na me lo su ve an el or is ter con ble ment tion pre ing ex un "
             "de com pro per dis ver sta tra cal mo ne pa li gra ly ous ful ness").split()


def _make_vocabulary(rnd, n):
    words = list(COMMON)
    seen = set(words)
    while len(words) < n:
        w = "".join(rnd.choice(SYLLABLES) for _ in range(rnd.choice((1, 2, 2, 3, 3, 4))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class _Prose:
    """Seeded pseudo-English. Words follow a Zipf law, and a share of each
    sentence is drawn from a pool of stock phrases: real prose repeats idioms
    and phrases, and those repeats are what lets deflate reach ~3.5x on text."""

    def __init__(self, rnd, vocab_size=5000, phrases=1000):
        self.rnd = rnd
        self.vocab = _make_vocabulary(rnd, vocab_size)
        self.cum = self._zipf(len(self.vocab), 1.1)
        self.phrases = [self._words(rnd.randint(2, 5)) for _ in range(phrases)]
        self.phrase_cum = self._zipf(phrases, 1.0)

    @staticmethod
    def _zipf(n, s):
        cum, total = [], 0.0
        for rank in range(1, n + 1):
            total += 1.0 / rank ** s
            cum.append(total)
        return cum

    def _words(self, k):
        return " ".join(self.rnd.choices(self.vocab, cum_weights=self.cum, k=k))

    def sentence(self):
        rnd = self.rnd
        pieces = []
        for _ in range(rnd.randint(3, 9)):
            if rnd.random() < 0.4:
                pieces.append(rnd.choices(self.phrases, cum_weights=self.phrase_cum)[0])
            else:
                pieces.append(self._words(rnd.randint(1, 3)))
            if rnd.random() < 0.08:
                pieces[-1] += ","
        return " ".join(pieces).capitalize() + rnd.choice(".....?!")

    def write(self, path, target, title):
        """A titled file of paragraphs, exactly `target` bytes long."""
        parts = [f"{title}\n{'=' * len(title)}\n\n"]
        size = len(parts[0])
        while size < target:
            para = " ".join(self.sentence() for _ in range(self.rnd.randint(3, 8))) + "\n\n"
            parts.append(para)
            size += len(para)
        with open(path, "w", encoding="ascii", newline="\n") as f:
            f.write("".join(parts)[:target])


def make_compression(out_dir):
    rnd = random.Random(COMPRESSION_SEED)
    prose = _Prose(rnd)
    # Uneven file sizes (like a real project), scaled to CORPUS_BYTES in total.
    raw = [rnd.lognormvariate(0, 0.8) for _ in range(CORPUS_FILES)]
    sizes = [int(CORPUS_BYTES * r / sum(raw)) for r in raw]
    # A few subfolders, so that downloading a whole prefix is exercised.
    folders = ["", "chapters", "chapters/appendix", "notes"]
    exts = [".txt", ".tex", ".md"]
    root = os.path.join(out_dir, CORPUS_NAME)
    for i, size in enumerate(sizes):
        folder = os.path.join(root, folders[i % len(folders)])
        os.makedirs(folder, exist_ok=True)
        prose.write(os.path.join(folder, f"part-{i:02d}{exts[i % len(exts)]}"), size, f"Part {i}")


# --------------------------------------------------------------------------

# name -> (stamp version, generator). Bump the version when output changes.
GENERATORS = {
    "210.thumbnailer": ("210.thumbnailer v1 seed=210", make_thumbnailer),
    "311.compression": ("311.compression v1 seed=311", make_compression),
}


def _read_stamp(folder):
    try:
        with open(os.path.join(folder, STAMP)) as f:
            return f.read().strip()
    except OSError:
        return None


def generate(name, root):
    if name not in GENERATORS:
        print(f"{name}: no data needed")
        return
    version, make = GENERATORS[name]
    target = os.path.join(root, name)
    if _read_stamp(target) == version:
        print(f"{name}: up to date")
        return
    os.makedirs(root, exist_ok=True)
    # One run per benchmark at a time: a concurrent run waits here, then finds
    # the data made. Holding the lock also makes any `.NAME.*` temporary left
    # by a killed run safe to delete.
    with open(os.path.join(root, f".{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _read_stamp(target) == version:
            print(f"{name}: up to date")
            return
        for leftover in glob.glob(os.path.join(root, f".{name}.*/")):
            shutil.rmtree(leftover, ignore_errors=True)
        # The temporary folder is a sibling of the target, so the rename stays
        # on one file system and is atomic.
        tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=root)
        try:
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the data is not
            make(tmp)
            with open(os.path.join(tmp, STAMP), "w") as f:
                f.write(version + "\n")
            if os.path.exists(target):
                # Outdated (or unstamped): move it aside in one step, then drop it.
                old = tempfile.mkdtemp(prefix=f".{name}.old.", dir=root)
                os.rename(target, os.path.join(old, "data"))
                shutil.rmtree(old)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{name}: generated in {target}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="+", metavar="BENCH")
    parser.add_argument("--root", default=os.path.dirname(os.path.abspath(__file__)),
                        help="where benchmark folders are created (default: next to this file)")
    args = parser.parse_args(argv)
    for bench in args.benchmarks:
        generate(os.path.basename(bench.rstrip("/")), os.path.abspath(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
