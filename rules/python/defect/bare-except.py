import json
import logging

log = logging.getLogger(__name__)


def load(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    # ruleid: bare-except
    except:
        return None


def worker(queue):
    while True:
        try:
            job = queue.get()
            job.run()
        except ValueError:
            log.warning("bad job")
        # ruleid: bare-except
        except:
            log.exception("job failed")
        finally:
            queue.task_done()


def parse(text):
    try:
        value = int(text)
    # ruleid: bare-except
    except: value = 0
    else:
        value += 1
    return value


def nested(a):
    try:
        try:
            return a[0]
        # ruleid: bare-except
        except:
            return None
    except Exception:
        return None


def transaction(conn):
    try:
        conn.execute("UPDATE t SET x = 1")
        conn.commit()
    # ok: bare-except
    except:
        conn.rollback()
        raise


def specific(text):
    try:
        return int(text)
    # ok: bare-except
    except (ValueError, TypeError):
        return None


def broad(text):
    try:
        return int(text)
    # ok: bare-except
    except Exception:
        log.exception("cannot parse %r", text)
        return None


# ok: bare-except
EXAMPLE = """
try:
    x()
except:
    pass
"""
