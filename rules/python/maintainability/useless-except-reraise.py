def load(path):
    # ruleid: useless-except-reraise
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        raise


def parse(text):
    # ruleid: useless-except-reraise
    try:
        return int(text)
    except (TypeError, ValueError) as exc:
        raise


def passthrough(text):
    # ok: useless-except-reraise
    try:
        return int(text)
    except ValueError:
        raise
    except Exception:
        return None


def passthrough_bare(text):
    # ok: useless-except-reraise
    try:
        return int(text)
    except KeyboardInterrupt:
        raise
    except:
        return None


def logged(text, log):
    # ok: useless-except-reraise
    try:
        return int(text)
    except ValueError:
        log.warning("bad number %r", text)
        raise


def with_finally(lock):
    # ok: useless-except-reraise
    try:
        return lock.work()
    except RuntimeError:
        raise
    finally:
        lock.release()


def repl(func, future):
    # ok: useless-except-reraise
    try:
        coro = func()
    except SystemExit:
        raise
    except KeyboardInterrupt as ex:
        future.set_exception(ex)
        return None
    except BaseException as ex:
        future.set_exception(ex)
        return None
    return coro
