"""Intra-op parallelism: the heavy primitives split their batch over a small thread pool.

NumPy releases the GIL inside its copies, ufunc loops and BLAS calls, so threads that each take
a slice of the batch run on separate cores. `run(fn, n)` calls fn(start, stop) on contiguous
parts of range(n), one part per thread, the caller's thread taking the first part.

With more than one thread (from the first call of a heavy primitive on), BLAS runs on one thread
(threadpoolctl): the pool's threads take its place, so T threads × B BLAS threads never oversubscribe
the cores, and the small GEMMs that stay serial do not pay for BLAS's threads either. Toggling BLAS's threads per region is not enough: after a call on two
threads OpenBLAS's worker spins for a while, against the pool (measured on conv N64 C6 12² under
load: 47 ms a step against 8 ms with BLAS on one thread). `set_num_threads(1)` gives BLAS its
threads back.

The parts are independent slices of the batch (images, or channels, or a GEMM's columns), each
computed as a serial loop would, and any sum over the batch is taken afterwards in one fixed order.
So the window primitives (unfold, fold, pooling) give bit-identical results for any thread count;
a GEMM can differ in its last bits, because BLAS may sum a dot product in another order when its
matrix is cut differently or when it runs on its own threads (1 thread: BLAS's own threading).

Safety: one parallel region runs at a time. A thread that finds the pool busy (a user's second
training thread) or that is itself a pool worker runs its parts serially, so chainrule never runs
more than `get_num_threads()` threads of its own, cannot deadlock on its pool, and stays correct
under the user's threads; the pool is dropped in a forked child (whose copy has no threads).

Measured on 2 cores (batch split over 2 threads, BLAS at 1 thread, against one thread with
OpenBLAS's own 2 threads): the three GEMMs of N32 C16 32² K32 3×3 14 → 8.5 ms; fold 1.8–1.9× and
unfold 1.1–1.2× faster on N32 C16 32² and N8 C64 56² 3×3 convs; the single big GEMMs of N8 C64 56²
gain nothing (BLAS threads them well already), and on small arrays a hand-off costs more than it
saves (hence MIN_WORK).
"""
import os
import queue
import threading

from threadpoolctl import ThreadpoolController

ENV = "CHAINRULE_NUM_THREADS"
#: Below this many elements of work (values copied or added), a region runs serially: waking a pool
#: thread costs 60–80 µs on this VM (measured), more than NumPy takes to copy a million float32 values
#: on one core (120 µs) saves by halving it.
MIN_WORK = 1 << 20
#: A multiply-add of a GEMM counts as this fraction of an element of work (BLAS does ~16 in the time
#: NumPy copies one value).
MACS_PER_ELEMENT = 16


def _default_threads():
    """CHAINRULE_NUM_THREADS if set, else the cores this process may run on."""
    value = os.environ.get(ENV)
    if value:
        try:
            return _checked(int(value))
        except ValueError:
            raise ValueError(f"{ENV} must be a positive integer, got {value!r}") from None
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _checked(n):
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"set_num_threads: the number of threads must be a positive integer, got {n!r}")
    return int(n)


class _Pool:
    """n − 1 daemon worker threads, each taking (fn, start, stop, results) from its own queue."""

    def __init__(self, n):
        self.queues = [queue.SimpleQueue() for _ in range(n - 1)]
        for q in self.queues:
            threading.Thread(target=self._work, args=(q,), name="chainrule-worker", daemon=True).start()

    @staticmethod
    def _work(q):
        while True:
            task = q.get()
            if task is None:
                return
            fn, start, stop, results = task
            del task
            try:
                fn(start, stop)
                outcome = None
            except BaseException as e:  # handed to the caller, which raises it
                outcome = e
            # Drop the task's closure before the caller may return: kept until the next task, it
            # held the region's arrays into the next step (LeNet5 at batch 256: 25 MB, +9 MB peak RSS).
            del fn
            results.put(outcome)
            del outcome, results

    def close(self):
        for q in self.queues:
            q.put(None)


_threads = _default_threads()
_pool = None
_region = threading.Lock()  # held by the one thread whose parts are running on the pool
_blas = None  # threadpoolctl's controllers of the loaded BLAS libraries, found on first use
_blas_threads = None  # BLAS's own thread counts while chainrule holds it at one thread
_blas_lock = threading.Lock()


def get_num_threads():
    """How many threads the heavy primitives (unfold, fold, the conv GEMMs, pooling) split their batch over."""
    return _threads


def set_num_threads(n):
    """Use n threads for intra-op parallelism (1: everything in the calling thread, BLAS on its own threads).

    The default is CHAINRULE_NUM_THREADS, else the number of cores this process may run on.
    """
    global _threads, _pool
    n = _checked(n)
    with _region:  # never resize under a running region
        if _pool is not None and n != _threads:
            _pool.close()
            _pool = None
        if n == 1:
            _unpin_blas()
        _threads = n


def _blas_controllers():
    global _blas
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


def _pin_blas():
    """BLAS on one thread, remembering its own thread counts."""
    global _blas_threads
    with _blas_lock:
        if _blas_threads is None:
            _blas_threads = [lib.get_num_threads() for lib in _blas_controllers()]
            for lib in _blas_controllers():
                lib.set_num_threads(1)


def _unpin_blas():
    global _blas_threads
    with _blas_lock:
        for lib, threads in zip(_blas_controllers(), _blas_threads or ()):
            lib.set_num_threads(threads)
        _blas_threads = None


def parts(n, count):
    """range(n) cut into `count` contiguous (start, stop) parts whose sizes differ by at most one."""
    count = max(1, min(count, n))
    bounds = [n * i // count for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def run(fn, n, work=None):
    """Call fn(start, stop) over contiguous parts of range(n), in parallel when it pays.

    `work` is the region's total size in elements (default n; see MACS_PER_ELEMENT); below MIN_WORK,
    with one thread, with n < 2, or while another region runs, fn(0, n) runs in this thread.
    """
    if _threads > 1 and _blas_threads is None:
        _pin_blas()
    if _threads < 2 or n < 2 or (n if work is None else work) < MIN_WORK or not _region.acquire(blocking=False):
        fn(0, n)
        return
    global _pool
    try:  # _threads and _pool change only under _region
        if _pool is None:
            _pool = _Pool(_threads)
        pieces = parts(n, _threads)
        results = queue.SimpleQueue()
        for q, (start, stop) in zip(_pool.queues, pieces[1:]):
            q.put((fn, start, stop, results))
        error = None
        try:
            fn(*pieces[0])
        except BaseException as e:
            error = e
        for _ in pieces[1:]:  # wait for every part before raising or returning
            error = results.get() or error
        if error is not None:
            raise error
    finally:
        _region.release()


def _forget_pool_in_child():
    """A forked child inherits the pool object but not its threads: start a fresh one on demand (BLAS stays
    on one thread, as in the parent)."""
    global _pool, _region
    _pool = None
    _region = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)
