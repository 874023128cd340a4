"""Runtime settings, read from the environment (prefix ``NIGHTLINE_``) once at start.

Nothing here is read at import time: call :func:`load_settings` from an entry point
and pass the result down. ``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL`` are also
accepted without the prefix, because that is how platforms usually inject them;
when either is set, ``nightline stack up`` starts nothing and uses them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "load_settings", "render_env_sample"]


class Settings(BaseSettings):
    """Every setting of a Nightline process. See ``deploy/nightline.env.sample``."""

    model_config = SettingsConfigDict(
        env_prefix="NIGHTLINE_",
        env_file=None,
        extra="ignore",
        populate_by_name=True,
        env_parse_none_str="off",  # e.g. NIGHTLINE_RECEIPT_TIMEOUT_S=off
    )

    # --- connections -------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "NIGHTLINE_KAFKA_BOOTSTRAP_SERVERS"
        ),
        description="External Kafka (host:port[,host:port]). Unset: use the local stack.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "NIGHTLINE_REDIS_URL"),
        description="External Redis URL (redis://host:port/db). Unset: use the local stack.",
    )
    redis_socket_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to wait for a Redis reply; a call that waits longer fails as "
        "transient and is retried.",
    )
    redis_connect_timeout_s: float = Field(
        default=2.0, gt=0, description="Seconds to wait for a new Redis connection to open."
    )
    redis_health_check_interval_s: int = Field(
        default=10,
        ge=0,
        description="A Redis connection idle for this many seconds is checked with PING "
        "before it is used again (0: never).",
    )

    # --- local stack -------------------------------------------------------------
    state_dir: Path = Field(
        default=Path(".nightline"),
        description="Where the local stack keeps Kafka logs, Redis AOF, pid files and logs.",
    )
    kafka_port: int = Field(default=19092, description="Local Kafka broker (PLAINTEXT) port.")
    kafka_controller_port: int = Field(default=19093, description="Local KRaft controller port.")
    redis_port: int = Field(default=16379, description="Local Redis port.")
    kafka_heap: str = Field(default="512m", description="Max heap of the local Kafka JVM.")
    maven_repo: Path = Field(
        default=Path.home() / ".cache" / "nightline" / "m2",
        description="Maven repository cache for the Kafka jars (outside git).",
    )
    kafka_jars_dir: Path = Field(
        default=Path.home() / ".cache" / "nightline" / "kafka-jars",
        description="Where the resolved Kafka jars are copied; reused on every start.",
    )

    # --- worker ------------------------------------------------------------------
    app_id: str = Field(default="nightline", description="Faust app id (consumer group prefix).")
    topic_prefix: str = Field(
        default="nightline",
        description="Prefix of every topic name; two deployments can share one cluster.",
    )
    topic_partitions: int = Field(default=4, description="Partitions of newly created topics.")
    topic_replication: int = Field(default=1, description="Replication factor of new topics.")
    web_port: int = Field(
        default=6066, description="Worker HTTP port (/metrics, /healthz, /readyz)."
    )
    web_host: str = Field(default="127.0.0.1", description="Worker HTTP bind address.")

    # --- API (`nightline api`) ----------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="API bind address.")
    api_port: int = Field(default=8443, description="API port.")
    api_tls: Literal["self-signed", "files", "off"] = Field(
        default="self-signed",
        description="self-signed: a certificate generated in the state dir (local use); "
        "files: NIGHTLINE_API_TLS_CERT_FILE / _KEY_FILE; off: plain HTTP, for behind a "
        "TLS-terminating ingress.",
    )
    api_tls_cert_file: Path | None = Field(default=None, description="PEM certificate chain.")
    api_tls_key_file: Path | None = Field(default=None, description="PEM private key.")
    api_kafka_deadline_s: float = Field(
        default=5.0,
        gt=0,
        description="How long a request waits for Kafka to acknowledge before it answers 503.",
    )
    api_max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest request body the API reads (413 above)."
    )
    api_cors_origins: str = Field(
        default="",
        description="Comma-separated origins allowed by CORS; empty: CORS is off.",
    )
    api_forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For names the client (comma-separated "
        "addresses or networks, * for any): sign-in throttling counts per client address.",
    )
    session_idle_s: int = Field(
        default=900, gt=0, description="A signed-in session ends after this long unused."
    )
    session_max_s: int = Field(
        default=12 * 3600, gt=0, description="A session ends this long after its sign-in."
    )
    access_token_s: int = Field(
        default=900, gt=0, description="Lifetime of an access token (refresh for another)."
    )
    sign_in_lock_after: int = Field(
        default=5, gt=0, description="Failed sign-ins in a row that lock an account."
    )
    sign_in_lock_s: int = Field(
        default=900, gt=0, description="How long a locked account stays locked."
    )
    sign_in_per_address_per_minute: int = Field(
        default=20, gt=0, description="Sign-in attempts one address may make per minute."
    )
    kafka_session_timeout_s: float = Field(
        default=10.0,
        description="Consumer session timeout: how soon a dead worker's partitions move.",
    )
    timer_scan_interval_s: float = Field(
        default=0.1, description="How often each worker scans the deadline index."
    )
    timer_lease_s: float = Field(
        default=10.0,
        description="A claimed timer not handled within this many seconds fires again.",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="The worker's event loop: uvloop (libuv, a fraction of asyncio's "
        "per-I/O cost) or the standard asyncio loop.",
    )
    agent_concurrency: int = Field(
        default=512,
        ge=1,
        le=4096,
        description="Records each stream agent handles at once (in order per dispatch; "
        "offsets are committed only behind finished records).",
    )
    effect_lease_s: float = Field(
        default=30.0,
        gt=10,
        description="How long a worker owns the effects it runs (pushes, events); one not "
        "done by then is run again by the effect scanner (longer than a push's deadline).",
    )
    effect_scan_interval_s: float = Field(
        default=1.0, gt=0, description="How often each worker looks for effects not done."
    )
    receipt_timeout_s: float | None = Field(
        default=60.0,
        gt=0,
        description="Seconds to wait for a device receipt before failing over to the next "
        "level (APNs/FCM acceptance is not delivery); only when shorter than the level's "
        "ack timeout. 'off': wait for the ack timeout only.",
    )
    desk_ack_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="The operator desk's acknowledgement timeout: an alert no operator "
        "claims within this many seconds is alerted again, until one does.",
    )
    handler_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Deadline of one attempt of an event handler or a periodic task; an "
        "attempt that runs out counts as a transient failure and is retried.",
    )
    stall_limit_s: float = Field(
        default=120.0,
        gt=0,
        description="/healthz fails (and Kubernetes restarts the worker) when an agent has "
        "had work waiting, or the timer scan has not completed, for longer than this.",
    )
    max_event_bytes: int = Field(
        default=64 * 1024, description="Intake events larger than this go to the dead letters."
    )
    dedupe_ttl_s: int = Field(
        default=7 * 24 * 3600, description="How long an intake event id is remembered."
    )
    clock: Literal["system", "redis-offset"] = Field(
        default="system",
        description="'redis-offset' lets tests and demos move the worker's clock forward.",
    )
    push_gateway: Literal["recording", "providers", "local-fakes"] = Field(
        default="providers",
        description="Push gateway. 'providers' sends through APNs and FCM as configured "
        "below (a platform without credentials is not pushed: its pages fail and escalate); "
        "'local-fakes' runs fake APNs / FCM with the local stack and sends to them "
        "(make run); 'recording' keeps PHI-free envelopes in Redis and sends nothing (tests).",
    )
    fake_apns_port: int = Field(default=18443, description="Local fake APNs port (local-fakes).")
    fake_fcm_port: int = Field(default=18444, description="Local fake FCM port (local-fakes).")
    apns_url: str = Field(
        default="https://api.push.apple.com",
        description="APNs provider API (https://api.sandbox.push.apple.com for development).",
    )
    apns_topic: str = Field(
        default="org.nightline.clinician", description="The app's bundle id (apns-topic)."
    )
    apns_key_file: Path | None = Field(
        default=None, description="APNs auth key (.p8). Unset: iOS devices are not pushed."
    )
    apns_key_id: str = Field(default="", description="Key id of the .p8 key (JWT kid).")
    apns_team_id: str = Field(default="", description="Apple developer team id (JWT iss).")
    apns_ca_file: Path | None = Field(
        default=None,
        description="Extra CA bundle to trust for APNs (only for the local fake).",
    )
    fcm_url: str = Field(
        default="https://fcm.googleapis.com", description="FCM HTTP v1 API base URL."
    )
    fcm_project_id: str = Field(default="", description="Firebase project id.")
    fcm_service_account_file: Path | None = Field(
        default=None,
        description="Google service-account JSON key. Unset: Android devices are not pushed.",
    )
    push_ttl_s: int = Field(
        default=300,
        ge=0,
        description="How long APNs / FCM may hold an undelivered push (apns-expiration, "
        "Android ttl); escalation takes over after that anyway.",
    )
    push_deadline_s: float = Field(
        default=8.0,
        gt=0,
        description="Longest one push may take with its retries before it counts as failed.",
    )
    push_gone_burst: int = Field(
        default=5,
        ge=0,
        description="Deactivation pauses when one provider answers 'device gone' (APNs 410 / "
        "BadDeviceToken, FCM UNREGISTERED) more often than this within "
        "NIGHTLINE_PUSH_GONE_WINDOW_S, for more than NIGHTLINE_PUSH_GONE_FRACTION of its "
        "answers: phones do not uninstall at once, a sandbox / production mix-up looks so.",
    )
    push_gone_fraction: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Share of a provider's answers in the window that must be 'device gone' "
        "to pause deactivation (with more than NIGHTLINE_PUSH_GONE_BURST of them).",
    )
    push_gone_window_s: float = Field(
        default=60.0, gt=0, description="The window in which 'device gone' answers are counted."
    )
    push_gone_pause_s: float = Field(
        default=900.0,
        gt=0,
        description="How long deactivation stays paused after the last answer of a burst; "
        "paused devices stay active (their pages fail and escalate).",
    )
    push_wait_s: float = Field(
        default=1.0,
        gt=0,
        description="How long a stream agent waits for a dispatch's pushes before taking "
        "its next event; slower pushes finish in the background (and escalate from there).",
    )
    vault_key: str | None = Field(
        default=None,
        description="Fernet key(s), comma-separated (first seals), that encrypt message "
        "content kept for re-pages. Unset: a key is generated in the state dir (local stack "
        "only, see NIGHTLINE_ALLOW_GENERATED_KEYS).",
    )
    vault_ttl_s: int = Field(
        default=3 * 24 * 3600, gt=0, description="How long message content is kept for re-pages."
    )
    dead_letter_key: str | None = Field(
        default=None,
        description="Fernet key that encrypts raw bytes kept in dead letters. "
        "Unset: a key is generated in the state dir (local stack only, see "
        "NIGHTLINE_ALLOW_GENERATED_KEYS).",
    )
    allow_generated_keys: bool = Field(
        default=False,
        description="Generate the vault and dead-letter keys in the state dir even though "
        "Kafka or Redis is external (tests, one machine). Without it a generated key is for "
        "the local stack only: a deployment's workers must share NIGHTLINE_VAULT_KEY and "
        "NIGHTLINE_DEAD_LETTER_KEY.",
    )
    default_operator_desk: str = Field(
        default="operator-desk",
        description="Desk alerted for intake that cannot be tied to a practice's own desk.",
    )
    log_level: str = Field(default="info", description="Log level of the worker.")

    @property
    def local_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def local_redis(self) -> bool:
        return self.redis_url is None

    @property
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_dsn(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    def topic(self, name: str) -> str:
        """The full topic name for a catalogue name such as ``intake``."""
        return f"{self.topic_prefix}.{name}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (for tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]


def render_env_sample() -> str:
    """The sample env file (``deploy/nightline.env.sample``): every setting, documented."""
    lines = [
        "# Nightline settings. Every variable is optional; the value shown is the default.",
        "# Generated by `nightline settings sample`; a test fails when it is stale.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env_names = list(alias.choices) if isinstance(alias, AliasChoices) else []
        env_name = str(env_names[0]) if env_names else f"NIGHTLINE_{name.upper()}"
        default = field.default
        shown = "" if default is None else str(default)
        if isinstance(default, Path) and str(default).startswith(str(Path.home())):
            shown = "~" + str(default)[len(str(Path.home())) :]
        lines.append(f"# {field.description}")
        lines.append(f"#{env_name}={shown}")
        lines.append("")
    return "\n".join(lines)
