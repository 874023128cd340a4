"""The local single-node Kafka: KRaft, broker and controller in one JVM, jars from Maven.

Layout under ``{state_dir}/kafka/``: ``server.properties`` (rewritten on every start),
``data/`` (log.dirs, formatted once), ``kafka.pid`` and ``kafka.log``. The jars come from
``deploy/kafka/pom.xml`` into ``settings.kafka_jars_dir``, resolved once per pom version.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from engine.settings import Settings
from engine.stack import _process

__all__ = [
    "DEPLOY_DIR",
    "KafkaError",
    "check_kafka",
    "ensure_jars",
    "kafka_running_pid",
    "start_kafka",
    "stop_kafka",
    "wait_kafka",
]

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kafka"
_MARKER = ".nightline-pom.sha256"
_JVM_FLAGS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true")


class KafkaError(RuntimeError):
    """The local Kafka could not be resolved, started or reached."""


def _home(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "kafka"


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise KafkaError(f"`{name}` is not on PATH; {hint}")
    return path


def ensure_jars(settings: Settings) -> Path:
    """Copy Kafka's runtime jars into ``kafka_jars_dir`` unless this pom's are already there."""
    pom = DEPLOY_DIR / "pom.xml"
    jars = settings.kafka_jars_dir.resolve()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = jars / _MARKER

    def cached() -> bool:
        found = any(jars.glob("kafka_2.13-*.jar"))
        return found and marker.exists() and marker.read_text().strip() == digest

    if cached():
        return jars
    with _process.file_lock(jars / ".lock"):
        if cached():  # another process resolved them while we waited
            return jars
        for old in jars.glob("*.jar"):
            old.unlink()
        marker.unlink(missing_ok=True)
        mvn = _tool("mvn", "install Maven (e.g. `apt-get install -y maven`).")
        repo = settings.maven_repo.resolve()
        cmd = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies"]
        cmd += [f"-DoutputDirectory={jars}", "-DincludeScope=runtime", f"-Dmaven.repo.local={repo}"]
        _run(cmd, "Maven (resolving the Kafka jars)")
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise KafkaError(f"Maven copied no kafka_2.13 jar into {jars}")
        marker.write_text(digest + "\n")
    return jars


def _java(jars: Path, heap: str, main: str, *args: str) -> list[str]:
    log4j = DEPLOY_DIR / "log4j2.yaml"
    java = _tool("java", "install a JDK 17+ (e.g. `apt-get install -y openjdk-17-jre-headless`).")
    jvm = [f"-Xmx{heap}", *_JVM_FLAGS, f"-Dlog4j2.configurationFile={log4j}"]
    return [java, *jvm, "-cp", f"{jars}/*", main, *args]


def _write_properties(settings: Settings) -> Path:
    home = _home(settings)
    (home / "data").mkdir(parents=True, exist_ok=True)
    port, ctl = settings.kafka_port, settings.kafka_controller_port
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{ctl}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(home / "data"),
        "num.partitions": "4",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # A restarted node re-registers only once the controller has expired the previous
        # incarnation's session (default 9 s); single node on loopback, so keep it short.
        "broker.session.timeout.ms": "3000",
        "broker.heartbeat.interval.ms": "500",
    }
    path = home / "server.properties"
    body = "".join(f"{key}={value}\n" for key, value in props.items())
    path.write_text("# Written by engine/stack/kafka.py on every start; edits are lost.\n" + body)
    return path


def _format_storage(settings: Settings, jars: Path, properties: Path) -> None:
    """Format ``data/`` with a fresh cluster id, once (``meta.properties`` marks it done)."""
    if (_home(settings) / "data" / "meta.properties").exists():
        return
    tool = "kafka.tools.StorageTool"
    out = _run(_java(jars, "256m", tool, "random-uuid"), "StorageTool random-uuid")
    found = re.findall(r"^[A-Za-z0-9_-]{22}$", out, flags=re.MULTILINE)
    if not found:
        raise KafkaError(f"StorageTool random-uuid printed no cluster id:\n{out}")
    _run(_java(jars, "256m", tool, "format", "-t", found[-1], "-c", str(properties)), "format")


def _run(cmd: list[str], what: str) -> str:
    """Run a setup command to completion: its stdout, or KafkaError with its output."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise KafkaError(f"{what} failed (exit {done.returncode}):\n$ {' '.join(cmd)}\n{tail}")
    return done.stdout


def kafka_running_pid(settings: Settings) -> int | None:
    """Pid of the local Kafka started from this state dir, if it still runs."""
    return _process.live_pid(_home(settings) / "kafka.pid")


def start_kafka(settings: Settings) -> tuple[int, bool]:
    """Spawn the local broker unless ours already runs: (pid, reused). Does not wait."""
    pid = kafka_running_pid(settings)
    if pid is not None:
        return pid, True
    for port in (settings.kafka_port, settings.kafka_controller_port):
        if _process.port_open(port):
            raise KafkaError(
                f"port {port} is taken by a process not started from "
                f"{settings.state_dir}; choose other NIGHTLINE_KAFKA_PORT / _CONTROLLER_PORT"
            )
    jars = ensure_jars(settings)
    properties = _write_properties(settings)
    _format_storage(settings, jars, properties)
    home = _home(settings)
    cmd = _java(jars, settings.kafka_heap, "kafka.Kafka", str(properties))
    return _process.spawn(cmd, home / "kafka.log", home / "kafka.pid", cwd=home), False


def check_kafka(servers: str, timeout_s: float = 3.0) -> str | None:
    """One metadata round trip; None when healthy, else the reason."""
    from kafka import KafkaAdminClient  # kafka-python: sync, imported lazily (slow import)

    ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=servers.split(","),
            client_id="nightline-stack",
            request_timeout_ms=ms,
            bootstrap_timeout_ms=ms,
        )
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        brokers = admin.describe_cluster().get("brokers") or []
        return None if brokers else "the cluster reports no live broker yet"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        admin.close()


def wait_kafka(settings: Settings, timeout_s: float = 60.0) -> None:
    """Retry :func:`check_kafka` until it passes; raise with the log tail on timeout."""
    local = settings.local_kafka
    reason: list[str | None] = ["not tried"]

    def ready() -> bool:
        if local and kafka_running_pid(settings) is None:
            raise KafkaError(f"the local Kafka exited during start-up; {_log_hint(settings)}")
        reason[0] = check_kafka(settings.kafka_servers)
        return reason[0] is None

    if not _process.wait_until(ready, timeout_s, interval=0.5):
        where = f"; {_log_hint(settings)}" if local else ""
        raise KafkaError(
            f"Kafka at {settings.kafka_servers} not ready after {timeout_s:.0f} s "
            f"(last error: {reason[0]}){where}"
        )


def _log_hint(settings: Settings) -> str:
    log = _home(settings) / "kafka.log"
    return f"log {log}, last lines:\n{_process.log_tail(log)}"


def stop_kafka(settings: Settings, timeout_s: float = 30.0) -> int | None:
    """Stop our local Kafka (SIGTERM, SIGKILL after ``timeout_s``): the pid stopped or None."""
    return _process.terminate(_home(settings) / "kafka.pid", timeout_s)
