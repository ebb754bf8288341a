import datetime
import os
import random

from jinja2 import Template

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "template.html")


def handler(event):
    begin = datetime.datetime.now()
    name = event.get("username")
    size = event.get("random_len")
    # Distinct numbers from [0, 1e6), as SeBS draws them.
    numbers = random.sample(range(0, 1000000), size)
    # The template is read and compiled on every call on purpose: that work is
    # part of what the benchmark measures.
    with open(TEMPLATE) as f:
        template = Template(f.read())
    html = template.render(username=name, cur_time=begin, random_numbers=numbers)
    end = datetime.datetime.now()
    return {"result": html,
            "measurement": {"compute_time": (end - begin) / datetime.timedelta(microseconds=1)}}
