import yaml
from yaml import FullLoader


def read(text, stream):
    # ruleid: yaml-unsafe-loader
    a = yaml.load(text, Loader=yaml.Loader)
    # ruleid: yaml-unsafe-loader
    b = yaml.load(text, FullLoader)
    # ruleid: yaml-unsafe-loader
    c = yaml.unsafe_load(text)
    # ruleid: yaml-unsafe-loader
    docs = list(yaml.load_all(stream, Loader=yaml.CUnsafeLoader))
    # ok: yaml-unsafe-loader
    d = yaml.load(text, Loader=yaml.SafeLoader)
    # ok: yaml-unsafe-loader
    e = yaml.load(text, Loader=yaml.CSafeLoader)
    # ok: yaml-unsafe-loader
    f = yaml.safe_load(text)
    return a, b, c, d, e, f, docs
