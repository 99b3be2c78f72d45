import json


class ConfigError(Exception):
    pass


def load(text, path):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # ruleid: raise-without-from-in-except
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}")


def convert(value):
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        if value is None:
            # ruleid: raise-without-from-in-except
            raise ConfigError("value is required")
        # ok: raise-without-from-in-except
        raise ConfigError(
            f"not a number: {value!r}"
        )
    else:
        return number
    finally:
        print("converted", value)


def lookup(table, key):
    try:
        return table[key]
    except KeyError as missing:
        # ok: raise-without-from-in-except
        raise LookupError(key) from missing
    except IndexError as err:
        # ok: raise-without-from-in-except
        raise err
    except AttributeError:
        # ok: raise-without-from-in-except
        raise ConfigError("no table")


def in_body(value):
    try:
        if value < 0:
            # ok: raise-without-from-in-except
            raise ValueError("negative")
    except TypeError as err:
        # ok: raise-without-from-in-except
        raise
