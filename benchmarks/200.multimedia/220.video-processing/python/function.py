import datetime
import os
import shutil
import subprocess
import tempfile

from . import storage

client = storage.storage.get_instance()

HERE = os.path.dirname(os.path.abspath(__file__))
WATERMARK = os.path.join(HERE, "resources", "watermark.png")
# A static ffmpeg shipped in the package (as SeBS ships one) wins over the machine's.
BUNDLED = os.path.join(HERE, "ffmpeg", "ffmpeg")
FFMPEG = BUNDLED if os.access(BUNDLED, os.X_OK) else "ffmpeg"


def _us(begin, end):
    return (end - begin) / datetime.timedelta(microseconds=1)


def call_ffmpeg(args):
    done = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-y"] + args,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = done.stdout.decode(errors="replace")[-2000:]
        raise RuntimeError(f"ffmpeg failed ({done.returncode}):\n{tail}")


def to_gif(video, duration, work):
    output = os.path.join(work, "processed-" + os.path.splitext(os.path.basename(video))[0] + ".gif")
    call_ffmpeg(["-i", video, "-t", str(duration),
                 "-vf", "fps=10,scale=320:-1:flags=lanczos,split[s0][s1];[s0]palettegen[p];[s1][p]paletteuse",
                 "-loop", "0", output])
    return output


def watermark(video, duration, work):
    output = os.path.join(work, "processed-" + os.path.basename(video))
    call_ffmpeg(["-i", video, "-i", WATERMARK, "-t", str(duration),
                 "-filter_complex", "overlay=main_w/2-overlay_w/2:main_h/2-overlay_h/2", output])
    return output


OPERATIONS = {"extract-gif": to_gif, "watermark": watermark}


def handler(event):
    bucket = event["bucket"]["bucket"]
    key = event["object"]["key"]
    duration = event["object"]["duration"]
    operation = OPERATIONS[event["object"]["op"]]

    work = tempfile.mkdtemp(prefix="video-")
    try:
        download_path = os.path.join(work, os.path.basename(key))
        download_begin = datetime.datetime.now()
        client.download(bucket, f"{event['bucket']['input']}/{key}", download_path)
        download_size = os.path.getsize(download_path)
        download_end = datetime.datetime.now()

        process_begin = datetime.datetime.now()
        result_path = operation(download_path, duration, work)
        process_end = datetime.datetime.now()

        upload_begin = datetime.datetime.now()
        upload_size = os.path.getsize(result_path)
        name = os.path.basename(result_path)
        key_name = client.upload(bucket, f"{event['bucket']['output']}/{name}", result_path)
        upload_end = datetime.datetime.now()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    return {
        "result": {"bucket": bucket, "key": key_name},
        "measurement": {
            "download_time": _us(download_begin, download_end),
            "download_size": download_size,
            "upload_time": _us(upload_begin, upload_end),
            "upload_size": upload_size,
            "compute_time": _us(process_begin, process_end),
        },
    }
