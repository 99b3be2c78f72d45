import logging
import warnings

logger = logging.getLogger(__name__)
audit_log = logging.getLogger("audit")


class Service:
    def __init__(self):
        self._logger = logging.getLogger(type(self).__name__)

    def run(self, n):
        if n > 10:
            # ruleid: logger-warn-deprecated
            self._logger.warn("large batch: %d", n)
        # ruleid: logger-warn-deprecated
        logger.warn("running %s", self)
        # ruleid: logger-warn-deprecated
        logging.warn("module-level call")
        # ruleid: logger-warn-deprecated
        audit_log.warn("audit %s", n)
        # ruleid: logger-warn-deprecated
        logging.getLogger("x").warn("chained")
        # ok: logger-warn-deprecated
        warnings.warn("deprecated", DeprecationWarning, stacklevel=2)
        # ok: logger-warn-deprecated
        logger.warning("fine")
        # ok: logger-warn-deprecated
        self.validator.warn(n)


def build_step(msg):
    from distutils import log

    # ok: logger-warn-deprecated
    log.warn("warning: %s", msg)
