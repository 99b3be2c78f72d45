import json
import pickle
from pickle import loads

import pandas as pd


def receive(sock, path):
    data = sock.recv(65536)
    # ruleid: pickle-deserialization
    obj = pickle.loads(data)
    # ruleid: pickle-deserialization
    other = loads(data)
    with open(path, "rb") as fh:
        # ruleid: pickle-deserialization
        cached = pickle.load(fh)
    # ruleid: pickle-deserialization
    frame = pd.read_pickle(path)
    # ok: pickle-deserialization
    payload = json.loads(data)
    # ok: pickle-deserialization
    blob = pickle.dumps(payload)
    return obj, other, cached, frame, blob
