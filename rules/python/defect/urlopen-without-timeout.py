import json
import urllib.request
from urllib.request import Request, urlopen


def fetch(url, body):
    # ruleid: urlopen-without-timeout
    with urllib.request.urlopen(url) as resp:
        data = json.load(resp)
    # ruleid: urlopen-without-timeout
    raw = urlopen(Request(url, method="POST"), body).read()
    # ok: urlopen-without-timeout
    with urlopen(url, timeout=10) as resp:
        data = json.load(resp)
    # ok: urlopen-without-timeout
    fast = urllib.request.urlopen(url, body, 5)
    return data, raw, fast
