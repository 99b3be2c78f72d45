import logging

log = logging.getLogger(__name__)


def read_config(path):
    try:
        return open(path).read()
    # ruleid: broad-except-swallowed
    except Exception:
        pass
    return ""


def notify(client, msg):
    try:
        client.send(msg)
    # ruleid: broad-except-swallowed
    except Exception as exc:  # noqa
        # nothing we can do here
        pass


def flush(buf):
    try:
        buf.flush()
    # ruleid: broad-except-swallowed
    except BaseException: ...


def close_all(items):
    for item in items:
        try:
            item.close()
        # ruleid: broad-except-swallowed
        except (Exception):
            pass


def logged(client, msg):
    try:
        client.send(msg)
    # ok: broad-except-swallowed
    except Exception:
        log.exception("send failed")


def pass_then_more(client, msg):
    try:
        client.send(msg)
    # ok: broad-except-swallowed
    except Exception:
        pass
        client.reconnect()


def specific(path):
    try:
        import yaml  # noqa: F401
    # ok: broad-except-swallowed
    except ImportError:
        pass


def cleanup_then_return(conn):
    try:
        conn.close()
    # ok: broad-except-swallowed
    except Exception:
        return False
    return True


class Handle:
    def __del__(self):
        try:
            self.close()
        # ok: broad-except-swallowed
        except Exception:
            pass
