"""How a process reaches the Kafka cluster: where it is and who it is there.

Every Kafka client the hub makes (the services' FastStream broker, the topic job, the
consumer-lag sampler, the dead-letter tool, the tests and the bench) is built from one
``KafkaAccess``, so that none of them can forget the credentials or the CA.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from faststream.security import BaseSecurity, SASLScram512

if TYPE_CHECKING:
    from services.plumbing.settings import KafkaSettings

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
SASL_MECHANISM = "SCRAM-SHA-512"
"""The only mechanism the hub's brokers offer (docs/contract.md ``kafka_security``)."""


@dataclass(frozen=True)
class KafkaAccess:
    """A bootstrap list and, unless ``PLAINTEXT``, a SCRAM-SHA-512 principal; with
    ``SASL_SSL``, ``ssl_cafile`` names the PEM CA bundle the brokers' certificates chain to
    (the system's trust store when unset)."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    username: str | None = None
    password: str | None = None
    ssl_cafile: str | None = None

    def __post_init__(self) -> None:
        if self.security_protocol != "PLAINTEXT" and not (self.username and self.password):
            raise ValueError(f"{self.security_protocol} needs a username and a password")

    @classmethod
    def of(cls, settings: KafkaSettings) -> KafkaAccess:
        return cls(
            settings.kafka_bootstrap_servers,
            settings.kafka_security_protocol,
            settings.kafka_sasl_username,
            settings.kafka_sasl_password.get_secret_value()
            if settings.kafka_sasl_password
            else None,
            settings.kafka_ssl_cafile,
        )

    def as_user(self, username: str, password: str) -> KafkaAccess:
        """The same cluster as another principal (SASL_PLAINTEXT unless TLS is in use)."""
        protocol: SecurityProtocol = (
            "SASL_SSL" if self.security_protocol == "SASL_SSL" else "SASL_PLAINTEXT"
        )
        return KafkaAccess(self.bootstrap_servers, protocol, username, password, self.ssl_cafile)

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol != "SASL_SSL":
            return None
        # Certificate and host name checked: a CA of our own is no reason to trust anyone.
        return ssl.create_default_context(cafile=self.ssl_cafile)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for an aiokafka client (producer, consumer or admin)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol != "PLAINTEXT":
            options.update(
                sasl_mechanism=SASL_MECHANISM,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        return options

    def faststream_security(self) -> BaseSecurity | None:
        """The same, for FastStream's ``KafkaBroker(security=...)``."""
        if self.security_protocol == "PLAINTEXT":
            return None
        assert self.username is not None
        assert self.password is not None
        context = self.ssl_context()
        return SASLScram512(
            self.username, self.password, ssl_context=context, use_ssl=context is not None
        )
