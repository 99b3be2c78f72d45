import logging

logger = logging.getLogger(__name__)


class Importer:
    log = logging.getLogger("importer")

    def run(self, rows, source):
        # ruleid: logging-eager-format
        logger.info(f"importing {len(rows)} rows from {source}")
        # ruleid: logging-eager-format
        self.log.debug("row: {}".format(rows[0]))
        # ruleid: logging-eager-format
        logging.warning("skipped %d rows" % len(rows), exc_info=False)
        # ok: logging-eager-format
        logger.info("importing %d rows from %s", len(rows), source)
        # ok: logging-eager-format
        logger.info(f"import started")
        # ok: logging-eager-format
        print(f"importing {len(rows)} rows")
        # ok: logging-eager-format
        self.report.info(f"{source}")
