import datetime
import json
import os
import tempfile

import torch
from PIL import Image
from torchvision import transforms
from torchvision.models import resnet50

from . import storage

client = storage.storage.get_instance()

# SeBS ships ImageNet's class index beside the function; without it the labels are the indices.
_INDEX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_class_index.json")
if os.path.isfile(_INDEX):
    with open(_INDEX) as f:
        _classes = json.load(f)
    LABELS = [_classes[str(k)][1] for k in range(len(_classes))]
else:
    LABELS = [f"class-{k:03d}" for k in range(1000)]

PREPROCESS = transforms.Compose([
    transforms.Resize(256),
    transforms.CenterCrop(224),
    transforms.ToTensor(),
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
])

model = None


def _us(begin, end):
    return (end - begin) / datetime.timedelta(microseconds=1)


def handler(event):
    global model
    bucket = event["bucket"]["bucket"]
    key = event["object"]["input"]
    model_key = event["object"]["model"]

    work = tempfile.mkdtemp(prefix="recognition-")
    image_path = os.path.join(work, os.path.basename(key))
    download_begin = datetime.datetime.now()
    client.download(bucket, f"{event['bucket']['input']}/{key}", image_path)
    download_end = datetime.datetime.now()

    model_download_begin = model_download_end = model_begin = model_end = datetime.datetime.now()
    model_size = 0
    if model is None:  # once per instance: warm invocations reuse the model
        model_path = os.path.join(work, model_key)
        model_download_begin = datetime.datetime.now()
        client.download(bucket, f"{event['bucket']['model']}/{model_key}", model_path)
        model_download_end = datetime.datetime.now()
        model_size = os.path.getsize(model_path)
        model_begin = datetime.datetime.now()
        net = resnet50(weights=None)
        net.load_state_dict(torch.load(model_path, weights_only=True))
        net.eval()
        model = net
        model_end = datetime.datetime.now()
        os.unlink(model_path)

    process_begin = datetime.datetime.now()
    with Image.open(image_path) as image:
        batch = PREPROCESS(image.convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        scores = model(batch)
    index = int(torch.argmax(scores, 1)[0])
    process_end = datetime.datetime.now()
    os.unlink(image_path)
    os.rmdir(work)

    return {
        "result": {"idx": index, "class": LABELS[index]},
        "measurement": {
            "download_time": _us(download_begin, download_end),
            "model_download_time": _us(model_download_begin, model_download_end),
            "model_download_size": model_size,
            "model_time": _us(model_begin, model_end),
            "compute_time": _us(process_begin, process_end),
        },
    }
