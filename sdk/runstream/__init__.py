"""runstream's SDK: log metrics from a training script.

    import runstream

    logger = runstream.get_logger()
    for epoch in range(10):
        logger.log("loss", loss)          # steps count up per metric
    logger.log("confusion", [3, 1, 0, 7])  # a flat list of numbers
    logger.wait()                          # optional: block until stored

Under ``runstream submit`` the points go to the run agent; run on its own, the
script becomes a run of its own (see :func:`get_logger`).
"""

from runstream.logger import Logger
from runstream.session import get_logger
from runstream.values import RunstreamWarning

__all__ = ["Logger", "RunstreamWarning", "get_logger"]
