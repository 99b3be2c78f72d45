import requests
from requests import post


def sync(url, payload, **options):
    # ruleid: requests-without-timeout
    resp = requests.get(url)
    # ruleid: requests-without-timeout
    post(url, json=payload)
    # ruleid: requests-without-timeout
    requests.request("DELETE", url, headers={"X-Token": "t"})
    # ok: requests-without-timeout
    requests.get(url, timeout=10)
    # ok: requests-without-timeout
    requests.post(url, json=payload, timeout=(3.05, 27))
    # ok: requests-without-timeout
    requests.put(url, data=payload, **options)
    return resp
