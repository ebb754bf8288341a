#!/usr/bin/env bash
# Makes the watermark (a translucent badge) into the package's resources/, with ffmpeg, as SeBS's
# 220 ships resources/watermark.png. Arguments (SeBS's): target directory, verbosity, architecture.
set -euo pipefail
mkdir -p "$1/resources"
ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "color=c=white@0.0:s=240x96,format=rgba" \
    -vf "drawbox=x=0:y=0:w=240:h=96:color=white@0.55:t=fill,drawbox=x=8:y=8:w=224:h=80:color=navy@0.7:t=4" \
    -frames:v 1 "$1/resources/watermark.png"
