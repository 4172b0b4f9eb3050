"""Where fan-out work runs: in this process (serial) or as Ray tasks on a cluster.

`executor=` settings (the sweep's `--ray`, `qcomp.sensitivity.output_gains(executor=...)`, the CIM
Monte-Carlo `CimArtifact.monte_carlo(executor=...)`):
- None or "serial": a plain loop here;
- "ray": Ray tasks on the cluster this process is connected to (`ray_init` connects or starts one);
- "ray:ADDRESS": connect to that cluster first (`ray://host:10001`, `host:6379`, `auto`).
`map_tasks(fn, items, executor)` returns `[fn(*item) for item in items]` either way, in order: `fn` must be a
module-level function (workers import it by name) and the items plain data or objects that pickle.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Sequence

from qcomp.dialects.errors import QcompError

LOCAL_OBJECT_STORE_BYTES = 2 << 30  # a local cluster's shared-memory store; larger objects spill to disk


def _ray():
    try:
        import ray  # deferred: ray (heavy)
    except ImportError:
        raise QcompError("Ray is not installed: pip install 'qcomp[ray]' (ray==2.60.0)") from None
    return ray


def ray_init(address: str | None = "local", num_cpus: int | None = None):
    """The `ray` module, connected: to the running session if there is one; else `address` ('local': a new
    single-node cluster on 127.0.0.1 with `num_cpus` CPUs, no dashboard; 'auto': the cluster Ray finds on this
    machine or RAY_ADDRESS, else a local one; otherwise that cluster's address)."""
    if address in (None, "local") and "ray" not in sys.modules:
        # Ray reads this once, at import: off, a local cluster's node address is 127.0.0.1 and its servers listen on
        # the loopback interface only (on, they listen on every interface)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _ray()
    if ray.is_initialized():
        return ray
    local = {
        "num_cpus": num_cpus,
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "object_store_memory": LOCAL_OBJECT_STORE_BYTES,
        "log_to_driver": False,
        # Ray runs workers at niceness 15 by default: on a shared machine they would get a sliver of the CPU the
        # in-process sweep gets. The points are this cluster's main work, so its workers run at the driver's.
        "_system_config": {"worker_niceness": 0},
    }
    try:
        if address in (None, "local"):
            ray.init(**local)
        elif address == "auto":
            try:
                ray.init(address="auto", log_to_driver=False)
            except ConnectionError:
                ray.init(**local)
        else:
            _reachable(address)
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise QcompError(f"cannot connect to the Ray cluster at {address!r}: {str(e).splitlines()[0]}") from None
    return ray


def _reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error now when nothing listens at HOST:PORT (Ray itself retries for minutes)."""

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise QcompError(f"Ray address {address!r}: expected HOST:PORT or ray://HOST:PORT, 'auto' or 'local'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise QcompError(f"cannot reach the Ray cluster at {address!r}: {e.strerror or e}") from None


def parse_executor(executor: str | None) -> str | None:
    """None (serial) or the Ray address ('local' when none is named); a bad setting is a one-line error."""
    if executor in (None, "", "serial"):
        return None
    if executor == "ray":
        return "auto"
    if isinstance(executor, str) and executor.startswith("ray:") and len(executor) > 4:
        return executor[4:]
    raise QcompError(f"executor must be 'serial', 'ray' or 'ray:ADDRESS', got {executor!r}")


def map_tasks(fn: Callable, items: Sequence[tuple], executor: str | None = None, num_cpus: float = 1) -> list:
    """[fn(*item) for item in items], here or as one Ray task per item (results in the items' order)."""
    address = parse_executor(executor)
    if address is None:
        return [fn(*item) for item in items]
    ray = ray_init(address)
    remote = ray.remote(num_cpus=num_cpus, max_retries=3)(fn)
    return ray.get([remote.remote(*item) for item in items])
