# Prints ordinary lines and Python tracebacks as applications do: through
# logging.exception (chained both ways) and an uncaught exception.
import logging, sys
logging.basicConfig(stream=sys.stdout, format="2026-12-01 10:00:00,000 %(levelname)s %(message)s")
log = logging.getLogger()
log.warning("starting")
try:
    try:
        1/0
    except ZeroDivisionError:
        raise ValueError("bad value")
except ValueError:
    log.exception("request failed")
def f():
    raise KeyError("k")
try:
    try:
        f()
    except KeyError as e:
        raise RuntimeError("wrapped <b>") from e
except RuntimeError:
    log.exception("second")
log.warning("done")
sys.stdout.flush()
f()
