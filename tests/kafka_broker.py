"""Kafka helpers for tests: a broker of a test's own (to stop and start at will) and
"has the server's consumer group read everything produced so far?"."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "services" / "kafka"
VERSION = os.environ.get("RUNSTREAM_KAFKA_VERSION", "4.1.1")


class Broker:
    """A single-node broker started by ``scripts/services/kafka`` with its own cache
    folder (data, logs, pid) and ports, so stopping it disturbs no other test. The
    jars are shared with the main broker's cache when it has them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "RUNSTREAM_CACHE": str(root),
                    "RUNSTREAM_KAFKA_PORT": str(self.port),
                    "RUNSTREAM_KAFKA_CONTROLLER_PORT": str(free_port())}
        shared = Path(os.environ.get("RUNSTREAM_CACHE", Path.home() / ".cache" / "runstream"))
        lib = shared / "kafka" / VERSION / "lib"
        if (lib / ".complete").is_file():
            (root / "kafka" / VERSION).mkdir(parents=True, exist_ok=True)
            (root / "kafka" / VERSION / "lib").symlink_to(lib)

    def _script(self, command: str, timeout: float) -> str:
        done = subprocess.run([str(SCRIPT), command], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/services/kafka {command} failed:\n{done.stderr}")
        return done.stdout.strip()

    def start(self) -> str:
        address = self._script("start", 300)
        assert address == self.bootstrap, address
        return address

    def stop(self) -> None:
        self._script("stop", 60)


def wait_consumed(bootstrap: str, topic: str, group: str, timeout: float = 30) -> None:
    """Until ``group`` has committed offsets at the end of every partition of ``topic``
    (the server commits after its database commit: everything produced is applied)."""
    # A consumer in the group that never subscribes only reads the group's offsets.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        deadline = time.monotonic() + timeout
        while True:
            tps = [TopicPartition(topic, p)
                   for p in sorted(consumer.partitions_for_topic(topic) or ())]
            end = consumer.end_offsets(tps) if tps else {}
            behind = {tp.partition: (consumer.committed(tp), end[tp])
                      for tp in tps if end[tp] > (consumer.committed(tp) or 0)}
            if tps and not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"group {group} has not consumed {topic} within "
                                     f"{timeout} s: (committed, end) by partition {behind}")
            time.sleep(0.05)
    finally:
        consumer.close()


def server_group(topic: str) -> str:
    """The consumer group a Kafka-mode server uses by default."""
    return f"runstream-projector.{topic}"
