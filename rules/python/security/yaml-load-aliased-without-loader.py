import yaml
import yaml as pyyaml
from yaml import load
from yaml import load as parse_yaml


def read(path, text):
    with open(path) as fh:
        # ruleid: yaml-load-aliased-without-loader
        config = load(fh)
    # ruleid: yaml-load-aliased-without-loader
    extra = parse_yaml(text) or {}
    # ok: yaml-load-aliased-without-loader
    safe = load(text, Loader=yaml.SafeLoader)
    # the module spellings are yaml-load-without-loader's (with a fix)
    # ok: yaml-load-aliased-without-loader
    plain = yaml.load(text)
    # ok: yaml-load-aliased-without-loader
    aliased = pyyaml.load(text)
    return config, extra, safe, plain, aliased


def bound(documents):
    loader = yaml.load  # the function stored in a local
    # ruleid: yaml-load-aliased-without-loader
    return [loader(doc) for doc in documents]


def unrelated(stream, json_load):
    # ok: yaml-load-aliased-without-loader
    return json_load(stream)
