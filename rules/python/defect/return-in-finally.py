def fetch(session, url):
    result = None
    try:
        result = session.get(url)
    finally:
        session.close()
        # ruleid: return-in-finally
        return result


def parse(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    finally:
        if text:
            # ruleid: return-in-finally
            return value


def many(x):
    try:
        y = 1 / x
    except ZeroDivisionError:
        raise
    else:
        y += 1
    finally:
        # ruleid: return-in-finally
        return 0


def fine(session, url):
    try:
        # ok: return-in-finally
        return session.get(url)
    finally:
        session.close()


def fine_after(session, url):
    try:
        result = session.get(url)
    except OSError:
        # ok: return-in-finally
        return None
    finally:
        session.close()
    # ok: return-in-finally
    return result


def two_handlers(x):
    try:
        y = 1 / x
    except ZeroDivisionError as exc:
        y = exc
    except TypeError:
        y = None
    finally:
        # ruleid: return-in-finally
        return y
