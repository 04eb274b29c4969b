"""A throwaway 3-master Redis Cluster on free loopback ports, for tests."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.support.processes import free_port, wait_for_port


@dataclass
class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` masters joined with ``redis-cli``."""

    masters: int = 3
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="strata-cluster-"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> RedisCluster:
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if server is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are needed (apt-get install redis)")
        for _ in range(self.masters):
            port, bus = free_port(), free_port()
            self.ports.append(port)
            self.procs.append(
                subprocess.Popen(
                    [
                        server,
                        "--port", str(port),
                        "--cluster-port", str(bus),
                        "--bind", "127.0.0.1",
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", f"nodes-{port}.conf",
                        "--cluster-node-timeout", "2000",
                        "--save", "",
                        "--appendonly", "yes",
                        "--appendfsync", "everysec",
                        # The nodes share one directory: each keeps its own append-only file.
                        "--appendfilename", f"appendonly-{port}.aof",
                        "--dir", self.workdir,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in self.ports:
            wait_for_port(port)
        subprocess.run(
            [
                cli, "--cluster", "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )  # fmt: skip
        self._wait_until_ok(cli)
        return self

    def _wait_until_ok(self, cli: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [
                subprocess.run(
                    [cli, "-p", str(port), "cluster", "info"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout
                for port in self.ports
            ]
            if all("cluster_state:ok" in state for state in states):
                return
            time.sleep(0.1)
        raise TimeoutError("the Redis Cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_redis_cluster(masters: int = 3) -> Iterator[RedisCluster]:
    """Start a cluster, yield it, tear it down."""
    cluster = RedisCluster(masters=masters)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
