"""spool: IPython-parallel's interface on a spool (no network: the shared filesystem).

    import spool as ipp
    c = ipp.Client()                  # the spool in $SPOOL_DIR, or Client(spool_dir=...)
    dview, lview = c[:], c.load_balanced_view()
    dview.apply_sync(f, *args)        # one result per engine
    lview.map(f, seq, block=True)     # in order, load-balanced

Functions travel pickled (cloudpickle) in files beside the data; each engine keeps a live
namespace between calls. From the build tree: PYTHONPATH=python (the library is found in
build/libspool.so, or $SPOOL_LIBRARY).
"""

from ._lib import NoSuchJob, SpoolError, SpoolTimeout, SpoolUsageError
from .asyncresult import AsyncResult
from .client import Client
from .error import CompositeError, RemoteError, TaskLost, TimeoutError
from .view import DirectView, LoadBalancedView, View

__version__ = "0.1.0"

__all__ = ["Client", "RemoteError", "CompositeError", "TimeoutError", "TaskLost", "AsyncResult",
           "DirectView", "LoadBalancedView", "View", "SpoolError", "NoSuchJob", "SpoolUsageError",
           "SpoolTimeout", "__version__"]
