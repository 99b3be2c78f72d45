def register(handler, registry):
    # ruleid: hasattr-call-check
    if not hasattr(handler, "__call__"):
        raise TypeError("handler must be callable")
    # ruleid: hasattr-call-check
    callables = [h for h in registry.values() if hasattr(h, '__call__')]
    # ok: hasattr-call-check
    if callable(handler):
        registry[handler.__name__] = handler
    # ok: hasattr-call-check
    if hasattr(handler, "__name__"):
        return handler.__name__
    return callables
