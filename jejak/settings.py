"""Typed settings, read from the environment only at the edges.

Every value can be set with a ``JEJAK_`` variable, ``__`` separating the
nesting: ``JEJAK_KAFKA__BOOTSTRAP_SERVERS``, ``JEJAK_STORE__DSN``,
``JEJAK_SDK__PSEUDONYMIZATION_KEY``. Only ``main()`` functions and the command
line call :meth:`Settings.from_env`; library classes take these objects.
Secrets are ``SecretStr`` and DSNs are redacted before they reach a log line or
an error message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

STATE_DIR = Path(".jejak")
"""Local state (broker data, the embedded store, spools), relative to the working directory."""


def default_dsn() -> str:
    """The embedded chDB engine in ``.jejak/chdb`` under the working directory."""
    return f"chdb://{(Path.cwd() / STATE_DIR / 'chdb').resolve()}"


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ``***``: safe for logs and errors."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    """Where the events, alerts and dead letters live, and how to reach the cluster."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    topic: str = Field("privacy.events", description="topic the SDK writes events to")
    group_id: str = Field("jejak-lineage", description="consumer group of the lineage workers")
    dead_letter_topic: str = Field(
        "privacy.events.dlq", description="undecodable or invalid messages, with why"
    )
    alerts_topic: str = Field("privacy.alerts", description="alerts raised on violations")
    group_instance_id: str | None = Field(
        None,
        description="static group membership: a stable name per consumer process (e.g. the "
        "pod name); a restarted consumer gets its partitions back at once. Unset = dynamic "
        "membership (a restart waits for the session timeout)",
    )
    session_timeout_ms: int = Field(
        45_000,
        ge=6000,
        description="a consumer silent this long leaves the group; its partitions move on",
    )
    partitions: int = Field(6, ge=1, description="partitions when jejak creates a topic")
    replication_factor: int = Field(1, ge=1, description="replication when jejak creates a topic")
    security_protocol: str | None = Field(None, description="e.g. SASL_SSL")
    sasl_mechanism: str | None = Field(None, description="e.g. PLAIN, SCRAM-SHA-512")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    def client_config(self) -> dict[str, Any]:
        """librdkafka properties common to producers, consumers and the admin client."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        if self.security_protocol:
            conf["security.protocol"] = self.security_protocol
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        return conf


class ConsumerSettings(_Section):
    """How the lineage consumer runs (docs/operations.md)."""

    progress_every_s: float = Field(
        10.0, ge=0, description="jejak consume logs a progress line this often; 0 = never"
    )
    ready_max_lag: int = Field(
        10_000, ge=0, description="/readyz fails while the consumer lags more messages than this"
    )
    derive_every_events: int = Field(
        100_000,
        ge=1,
        description="derive alerts and aggregates from the log after this many new events "
        "(also every derive_every_s, and when the stream goes quiet; docs/store.md)",
    )
    derive_every_s: float = Field(
        10.0, gt=0, description="derive alerts and aggregates at least this often (seconds)"
    )
    workers: int = Field(
        1,
        ge=1,
        description="consumer processes of jejak consume (with embedded chDB: one more process "
        "holds the store and serves it to them; docs/operations.md)",
    )
    fault: str | None = Field(
        None,
        description="fault injection for tests, POINT:BATCH (e.g. after_write:3): SIGKILL "
        "the consumer there (docs/operations.md); never set it in production",
    )


class SchemaSettings(_Section):
    """How Avro payloads are framed on the wire."""

    registry_url: str | None = Field(
        None,
        description="Confluent-compatible schema registry; unset = single-object encoding",
    )


def _storable(value: datetime) -> datetime:
    if not datetime(1900, 1, 1, tzinfo=UTC) <= value < datetime(2300, 1, 1, tzinfo=UTC):
        raise ValueError("must be within the years 1900 to 2299, which the store can hold")
    return value


class EventSettings(_Section):
    """Which ``occurred_at`` values are accepted (``jejak emit`` and the consumer check them).

    A time outside the window is an invalid event: ``jejak emit`` reports the
    line, the consumer dead-letters it. The store holds 1900 to 2299 whatever
    these say.
    """

    earliest: Annotated[AwareDatetime, AfterValidator(_storable)] = Field(
        datetime(2000, 1, 1, tzinfo=UTC),
        description="the earliest occurred_at accepted (RFC 3339 with a zone)",
    )
    max_future_s: float = Field(
        86_400, ge=0, description="how far occurred_at may be ahead of now (clock skew), seconds"
    )


class StoreSettings(_Section):
    """The lineage store: embedded chDB (``chdb:///path``) or a server (``http(s)://``)."""

    dsn: SecretStr = Field(
        default_factory=lambda: SecretStr(default_dsn()),
        description="chdb:///path or http(s)://user:password@host:port/db",
    )
    database: str = Field("jejak", description="database that holds jejak's tables")
    cluster: str | None = Field(
        None, description="ClickHouse cluster name: replicated tables ON CLUSTER"
    )

    @property
    def redacted_dsn(self) -> str:
        return redact_dsn(self.dsn.get_secret_value())


FsyncPolicy = Literal["always", "batch", "never"]


DEVELOPMENT_KEY = "jejak-development-key-change-me"
"""The default pseudonymization key. It is public (it is in this file), so anyone can
recompute a pseudonym from a raw id under it: the SDK and the consumer refuse it unless
``allow_development_key`` is set (see :func:`jejak.schemas.pseudonym.check_key`)."""


class SdkSettings(_Section):
    """The producer SDK as a product service configures it."""

    service: str = Field("unknown-service", description="name of the emitting service")
    service_version: str = Field("0.0.0", description="version of the emitting service")
    transport: str = Field("kafka", description="kafka | spool | file | console | memory")
    pseudonymization_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_KEY),
        description="HMAC-SHA-256 key that turns raw subject ids into pseudonyms; "
        "the default is public and refused unless ALLOW_DEVELOPMENT_KEY is set",
    )
    allow_development_key: bool = Field(
        False,
        description="accept the public default pseudonymization key (demos and tests only)",
    )
    spool_dir: Path = Field(STATE_DIR / "spool", description="durable on-disk spool")
    fsync: FsyncPolicy = Field("batch", description="spool fsync: always | batch | never")
    max_block_ms: int = Field(50, ge=0, description="longest a service call may block")
    queue_buffering_max_messages: int = Field(100_000, ge=1)
    linger_ms: int = Field(20, ge=0)
    compression: str = Field("zstd", description="none | gzip | snappy | lz4 | zstd")
    message_timeout_ms: int = Field(
        30_000,
        ge=1000,
        description="librdkafka gives up on a message after this; it is then spooled",
    )
    probe_interval_s: float = Field(
        1.0, gt=0, description="while spooling, how often to check whether Kafka is back"
    )


class PolicySettings(_Section):
    """Which policy versions are in force."""

    path: Path | None = Field(
        None, description="folder (or file) of policy versions; unset = the shipped policy"
    )


class ApiSettings(_Section):
    """The query API (and web page) that the consumer process serves.

    With the embedded chDB store only one process may open the data folder, so
    the process that runs the consumer answers the queries for everyone else.
    """

    host: str = Field("127.0.0.1", description="address the query API listens on")
    port: int = Field(8765, ge=0, le=65535, description="port of the query API (0 = any free)")
    url: str | None = Field(
        None,
        description="query through this API instead of opening the store, e.g. http://127.0.0.1:8765",
    )
    token: SecretStr | None = Field(
        None, description="API token the command line sends with --api (jejak token create)"
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description='Host header names accepted besides the bound host, 127.0.0.1 and localhost (JSON list, e.g. ["jejak.example"])',
    )
    request_timeout_s: float = Field(60.0, gt=0, description="longest time one request may take")
    keepalive_timeout_s: float = Field(
        5.0, gt=0, description="idle keep-alive connections close after this"
    )
    max_connections: int = Field(64, ge=1, description="concurrent connections; more get 503")
    max_body_bytes: int = Field(65536, ge=1024, description="largest request body accepted")
    tls_certfile: Path | None = Field(None, description="serve HTTPS with this certificate (PEM)")
    tls_keyfile: Path | None = Field(None, description="the certificate's private key (PEM)")


def _dsn_database(store: StoreSettings, database: str | None) -> str:
    """The database a store uses: an explicit one, else the one an http(s) DSN names, else
    ``store.database`` (the order of ``jejak.lineage.store.connect``)."""
    if database:
        return database
    parts = urlsplit(store.dsn.get_secret_value())
    named = parts.path.strip("/") if parts.scheme != "chdb" else ""
    return named or store.database


def trust_dir(store: StoreSettings, database: str | None = None) -> Path:
    """The folder of one store's signing key and checkpoints, outside its data.

    Beside an embedded chDB folder: ``<parent>/trust/<database>`` for the
    default folder name ``chdb`` (``.jejak/trust/jejak``), else
    ``<parent>/trust/<folder>.<database>``; for a server or an in-memory store,
    ``.jejak/trust/<database>@<host>_<port>`` under the working directory.
    Database names are plain identifiers (no ``.`` or ``@``), so two stores
    never get the same folder, hence never share a key.
    """
    db = _dsn_database(store, database)
    parts = urlsplit(store.dsn.get_secret_value())
    if parts.scheme == "chdb":
        path = parts.path if not parts.netloc else parts.netloc + parts.path
        if path and path not in (":memory:", "memory"):
            folder = Path(path)
            name = db if folder.name == "chdb" else f"{folder.name}.{db}"
            return folder.parent / "trust" / name
        return STATE_DIR / "trust" / f"{db}@memory"
    return STATE_DIR / "trust" / f"{db}@{parts.hostname or 'localhost'}_{parts.port or 'default'}"


def default_key_file(store: StoreSettings, database: str | None = None) -> Path:
    """``signing.key`` in the store's :func:`trust_dir`: one key per store."""
    return trust_dir(store, database) / "signing.key"


def default_key_name(store: StoreSettings, database: str | None = None) -> str:
    """``jejak-<database>``: the name a new key (and its checkpoints' origin) gets."""
    return f"jejak-{_dsn_database(store, database)}"


def default_checkpoint_dir(store: StoreSettings, database: str | None = None) -> Path:
    """``checkpoints`` in the store's :func:`trust_dir`, outside the chDB folder."""
    return trust_dir(store, database) / "checkpoints"


class TrustSettings(_Section):
    """The tamper-evident store: the key that signs checkpoints, and how often it does.

    Unset paths and names are derived per store (:func:`trust_dir`), so two
    stores never share a key; the ``*_for`` methods give the value in force.
    """

    key_file: Path | None = Field(
        None,
        description="Ed25519 signer key (0600); unset = .jejak/trust/<database>/signing.key "
        "beside the chDB folder",
    )
    key_name: str | None = Field(
        None,
        description="name of a new key and origin of its checkpoints; unset = jejak-<database>",
    )
    checkpoint_dir: Path | None = Field(
        None, description="signed checkpoints; unset = .jejak/trust/<database>/checkpoints"
    )
    checkpoint_every_events: int = Field(
        10_000, ge=1, description="sign a checkpoint after this many new events"
    )
    checkpoint_every_s: float = Field(
        60, gt=0, description="sign a checkpoint at least this often (seconds) while events arrive"
    )

    def key_file_for(self, store: StoreSettings, database: str | None = None) -> Path:
        return self.key_file or default_key_file(store, database)

    def key_name_for(self, store: StoreSettings, database: str | None = None) -> str:
        return self.key_name or default_key_name(store, database)

    def checkpoint_dir_for(self, store: StoreSettings, database: str | None = None) -> Path:
        return self.checkpoint_dir or default_checkpoint_dir(store, database)


class Settings(BaseSettings):
    """All of jejak's settings; build with :meth:`from_env` at the edges only."""

    model_config = SettingsConfigDict(
        env_prefix="JEJAK_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    schemas: SchemaSettings = Field(default_factory=SchemaSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    sdk: SdkSettings = Field(default_factory=SdkSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    trust: TrustSettings = Field(default_factory=TrustSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from ``JEJAK_*`` variables (and a ``.env`` file is not read)."""
        return cls(**overrides)


def describe(
    model: type[BaseModel] = Settings, prefix: str = "JEJAK_"
) -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting: for ``--help`` and the README."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        var = f"{prefix}{name.upper()}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(describe(ann, f"{var}__"))
            continue
        if field.default_factory is not None:
            default = "(computed)"
        else:
            default = "" if field.default is None else str(field.default)
        if ("key" in name and ann is not bool) or "password" in name:
            default = "(secret)" if default else ""
        rows.append((var, default, field.description or ""))
    return rows
