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
import subprocess
import tempfile
import zipfile

import landscape

STAMP = ".generated"


# --------------------------------------------------------------------------
# 210.thumbnailer: one ~2 MB JPEG of an evening landscape (landscape.py).
# --------------------------------------------------------------------------

THUMBNAILER_SEED = 210
IMAGE_NAME = "evening-landscape.jpg"
IMAGE_SIZE = (3000, 2000)


def make_thumbnailer(out_dir):
    landscape.render(os.path.join(out_dir, IMAGE_NAME), THUMBNAILER_SEED, IMAGE_SIZE)


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
# 120.uploader: three files of the sizes SeBS fetches from the web.
# --------------------------------------------------------------------------

UPLOADER_SEED = 120


def make_uploader(out_dir):
    rnd = random.Random(UPLOADER_SEED)
    # ~230 kB: a photograph (SeBS: an 800 px wide JPEG).
    landscape.render(os.path.join(out_dir, "photo-800px.jpg"), UPLOADER_SEED, (800, 533), quality=95)
    # ~6.7 MB: an archive of 60 incompressible "source" files (SeBS: a source release zip).
    with zipfile.ZipFile(os.path.join(out_dir, "source-archive.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(60):
            info = zipfile.ZipInfo(f"project-1.4.0/src/module-{i:02d}.bin", date_time=(2020, 1, 1, 0, 0, 0))
            z.writestr(info, rnd.randbytes(111_000), compress_type=zipfile.ZIP_DEFLATED)
    # ~98 MB: model weights (SeBS: a ResNet-50 checkpoint).
    with open(os.path.join(out_dir, "model-weights.bin"), "wb") as f:
        for _ in range(98):
            f.write(rnd.randbytes(1_000_000))


# --------------------------------------------------------------------------
# 220.video-processing: a 10 s 720p video with sound, made by ffmpeg.
# --------------------------------------------------------------------------

VIDEO_NAME = "city-720p.mp4"
VIDEO_SECONDS = 10


def make_video(out_dir):
    # ffmpeg's test sources are deterministic, and one encoder thread keeps x264's output too.
    lavfi = [f"testsrc2=size=1280x720:rate=25:duration={VIDEO_SECONDS}",
             f"sine=frequency=440:sample_rate=44100:duration={VIDEO_SECONDS}"]
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "lavfi", "-i", lavfi[0], "-f", "lavfi", "-i", lavfi[1],
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
               "-threads", "1", "-c:a", "aac", "-b:a", "128k", "-shortest",
               "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
               os.path.join(out_dir, VIDEO_NAME)]
    try:
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        sys.exit("220.video-processing: ffmpeg is not installed (Debian: apt-get install ffmpeg)")


# --------------------------------------------------------------------------
# 411.image-recognition: a ResNet-50 with seeded weights and a few photographs.
# --------------------------------------------------------------------------

RECOGNITION_SEED = 411
RECOGNITION_IMAGES = 5


def make_recognition(out_dir):
    import resnet  # needs numpy; imported here so that other data does not

    os.makedirs(os.path.join(out_dir, "model"))
    resnet.write(os.path.join(out_dir, "model", "resnet50-seeded.pth"), RECOGNITION_SEED)
    images = os.path.join(out_dir, "fake-resnet")
    os.makedirs(images)
    lines = []
    for i in range(RECOGNITION_IMAGES):
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        landscape.render(os.path.join(images, name), RECOGNITION_SEED + i, (500, 375))
        lines.append(f"{name} {970 + i}\n")  # a class index, as ImageNet's val_map.txt has
    with open(os.path.join(images, "val_map.txt"), "w") as f:
        f.writelines(lines)


# --------------------------------------------------------------------------
# 504.dna-visualisation: a ~4 MB FASTA file.
# --------------------------------------------------------------------------

DNA_SEED = 504
DNA_BASES = 4_000_000


def make_dna(out_dir):
    rnd = random.Random(DNA_SEED)
    # GC-poor and AT-rich stretches alternate, as in real genomes, so the walk has structure.
    chunks = []
    remaining = DNA_BASES
    while remaining > 0:
        n = min(remaining, rnd.randint(2_000, 20_000))
        gc = rnd.choice((0.35, 0.42, 0.55))
        weights = ((1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2)
        chunks.append("".join(rnd.choices("ACGT", weights=weights, k=n)))
        remaining -= n
    sequence = "".join(chunks)
    with open(os.path.join(out_dir, "bacillus-synthetic.fasta"), "w", newline="\n") as f:
        f.write(">synthetic chromosome, seed 504, generated by sebs benchmark-data\n")
        for i in range(0, len(sequence), 70):
            f.write(sequence[i:i + 70] + "\n")


# --------------------------------------------------------------------------

# name -> (stamp version, generator). Bump the version when output changes.
GENERATORS = {
    "120.uploader": ("120.uploader v1 seed=120", make_uploader),
    "210.thumbnailer": ("210.thumbnailer v1 seed=210", make_thumbnailer),
    "220.video-processing": ("220.video-processing v1", make_video),
    "311.compression": ("311.compression v1 seed=311", make_compression),
    "411.image-recognition": ("411.image-recognition v1 seed=411", make_recognition),
    "504.dna-visualisation": ("504.dna-visualisation v1 seed=504", make_dna),
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
