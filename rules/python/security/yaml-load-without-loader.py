import yaml


def read(path, text):
    with open(path) as fh:
        # ruleid: yaml-load-without-loader
        config = yaml.load(fh)
    # ruleid: yaml-load-without-loader
    extra = yaml.load(text.replace("\t", "  ")) or {}
    # ok: yaml-load-without-loader
    safe = yaml.safe_load(text)
    # ok: yaml-load-without-loader
    explicit = yaml.load(text, Loader=yaml.SafeLoader)
    return config, extra, safe, explicit


def other_spellings(text):
    from yaml import load

    # only the `yaml.load` spelling is matched, so that the fix's `yaml.` name exists
    # todoruleid: yaml-load-without-loader
    return load(text)
