import yaml


def read(path, text):
    with open(path) as fh:
        # ruleid: yaml-load-without-loader
        config = yaml.safe_load(fh)
    # ruleid: yaml-load-without-loader
    extra = yaml.safe_load(text.replace("\t", "  ")) or {}
    # ok: yaml-load-without-loader
    safe = yaml.safe_load(text)
    # ok: yaml-load-without-loader
    explicit = yaml.load(text, Loader=yaml.SafeLoader)
    return config, extra, safe, explicit


def module_alias(text):
    import yaml as yy

    # ruleid: yaml-load-without-loader
    return yy.safe_load(text)


def other_spellings(text):
    from yaml import load

    # a name bound by `from yaml import load` is yaml-load-aliased-without-loader's (no fix:
    # `yaml.` may not be imported)
    # ok: yaml-load-without-loader
    return load(text)
