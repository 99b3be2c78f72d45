import ssl

import httpx
import requests


def call(url, session: requests.Session):
    # ruleid: tls-verification-disabled
    r = requests.get(url, verify=False)
    # ruleid: tls-verification-disabled
    session.post(url, json={}, verify=False, timeout=5)
    # ruleid: tls-verification-disabled
    session.verify = False
    # ruleid: tls-verification-disabled
    client = httpx.Client(verify=False)
    # ruleid: tls-verification-disabled
    ctx = ssl._create_unverified_context()
    strict = ssl.create_default_context()
    # ruleid: tls-verification-disabled
    strict.check_hostname = False
    # ruleid: tls-verification-disabled
    strict.verify_mode = ssl.CERT_NONE
    # ok: tls-verification-disabled
    ok = requests.get(url, verify="/etc/ssl/private-ca.pem", timeout=5)
    # ok: tls-verification-disabled
    ok2 = requests.get(url, timeout=5)
    return r, client, ctx, ok, ok2
