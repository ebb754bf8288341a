"""220.video-processing: watermark a video or turn its start into a GIF, with ffmpeg.

The video is a 10 s 720p clip made by benchmark-data/generate.py with ffmpeg. Sizes: test, a
1 s watermarked clip; small, 3 s watermarked; large, a 5 s GIF.

ffmpeg comes from the machine (Debian's package on the local platform). SeBS downloads a static
ffmpeg build into the package instead; a cloud deployment needs one too (a static x86_64 or
arm64 ffmpeg in `python/ffmpeg/ffmpeg`, which the function prefers when present).
"""

import json
import os
import subprocess

VIDEO = "city-720p.mp4"
OPERATIONS = {"test": ("watermark", 1), "small": ("watermark", 3), "large": ("extract-gif", 5)}
GIF_WIDTH, GIF_FPS = 320, 10


def buckets_count():
    return (1, 1)


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    upload_func(0, VIDEO, os.path.join(data_dir, VIDEO))
    op, duration = OPERATIONS[size]
    return {
        "object": {"key": VIDEO, "op": op, "duration": duration},
        "bucket": {"bucket": benchmarks_bucket, "input": input_paths[0], "output": output_paths[0]},
    }


def _probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """The stored result is an H.264 video of the requested length at the source's size, or a
    GIF 320 px wide with 10 frames per second of video."""
    try:
        result, m = output["result"], output["measurement"]
        op, duration = input_cfg["object"]["op"], input_cfg["object"]["duration"]
        key = result["key"]
    except (KeyError, TypeError) as exc:
        return False, f"malformed output: {exc!r}"
    if not key.startswith(input_cfg["bucket"]["output"] + "/"):
        return False, f"{key} is not under the output prefix"
    if m.get("download_size") != os.path.getsize(os.path.join(data_dir, VIDEO)):
        return False, "the whole video was not downloaded"
    if storage is None:
        return False, "the stored result cannot be checked without storage"
    stored = storage.download_stream(input_cfg["bucket"]["bucket"], key)
    if len(stored) != m.get("upload_size"):
        return False, f"{key} has {len(stored)} bytes, upload_size says {m.get('upload_size')}"
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(key)[1]) as f:
        f.write(stored)
        f.flush()
        info = _probe(f.name)
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    length = float(info["format"]["duration"])
    if op == "extract-gif":
        ok = (len(video) == 1 and video[0]["codec_name"] == "gif" and video[0]["width"] == GIF_WIDTH
              and abs(length - duration) <= 0.2)
    else:
        ok = (len(video) == 1 and video[0]["codec_name"] == "h264"
              and (video[0]["width"], video[0]["height"]) == (1280, 720) and abs(length - duration) <= 0.2)
    return ok, f"{op}: {video[0]['codec_name'] if video else 'no video'} {length:.2f} s"
