"""The bus's principals and ACLs, made to match ``schemas/bus_access.py``: SCRAM-SHA-512
credentials (``AlterUserScramCredentials``, KIP-554) and ALLOW bindings (``CreateAcls``,
``DeleteAcls``, ``DescribeAcls``), as the super user.

aiokafka's admin client has none of these calls (it has the ACL request structures, one
binding per request, and nothing for SCRAM), so this module sends the Kafka protocol's own
requests through it: the versions every Kafka from 2.7 to 4.x answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from schemas.bus_access import PRINCIPALS, Acl, Operation, Resource, all_acls
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.topics_admin import admin_client

# Kafka's codes (org.apache.kafka.common.resource / acl).
RESOURCE_TYPE = {Resource.TOPIC: 2, Resource.GROUP: 3}
RESOURCE_NAME = {code: name for name, code in RESOURCE_TYPE.items()}
OPERATION = {Operation.READ: 3, Operation.WRITE: 4, Operation.DESCRIBE: 8}
OPERATION_NAME = {code: name for name, code in OPERATION.items()}
ANY = 1
LITERAL = 3
ALLOW = 3
SCRAM_SHA_512 = 2
SCRAM_ITERATIONS = 8192
"""PBKDF2 rounds for the stored credential (Kafka's minimum is 4096)."""


class BusAdminError(RuntimeError):
    """The broker refused to change a credential or an ACL; the message says which."""


# ---- AlterUserScramCredentials v0 (flexible) ------------------------------------------------


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("tags", TaggedFields),
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


def _upsertion(username: str, password: str) -> tuple[Any, ...]:
    """RFC 5802's SaltedPassword: Hi(password, salt, i) is PBKDF2-HMAC with the mechanism's
    hash; the broker derives the stored and server keys from it."""
    salt = secrets.token_bytes(32)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
    return (username, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {})


async def set_scram_credentials(admin: AIOKafkaAdminClient, passwords: dict[str, str]) -> None:
    """Create or replace each user's SCRAM-SHA-512 credential (a rotation is the same call
    with the new password: clients with the old one fail their next authentication)."""
    if not passwords:
        return
    upsertions = [_upsertion(user, password) for user, password in sorted(passwords.items())]
    response = await _send(admin, AlterUserScramCredentialsRequest_v0([], upsertions, {}))
    failed = [
        f"{user}: {message or code}" for user, code, message, _ in response.results if code != 0
    ]
    if failed:
        raise BusAdminError("SCRAM credentials refused: " + "; ".join(failed))


# ---- ACLs -------------------------------------------------------------------------------


class _Single:
    """One request of a fixed version, for ``AIOKafkaAdminClient._send_request`` (which asks
    only ``prepare``): the ACL calls at v1, which every Kafka since 2.0 answers and 4.x
    still does, and AlterUserScramCredentials at v0."""

    def __init__(self, struct: RequestStruct) -> None:
        self.struct = struct

    def prepare(self, versions: dict[int, tuple[int, int]]) -> RequestStruct:
        low, high = versions.get(self.struct.API_KEY, (0, -1))
        if not low <= self.struct.API_VERSION <= high:
            raise BusAdminError(
                f"the broker does not answer {type(self.struct).__name__} "
                f"(it offers versions {low} to {high})"
            )
        return self.struct


async def _send(admin: AIOKafkaAdminClient, struct: RequestStruct) -> Any:
    return await admin._send_request(_Single(struct))


async def describe_acls(admin: AIOKafkaAdminClient) -> set[Acl]:
    """Every ALLOW binding on a literal topic or group name (those the hub manages)."""
    request = DescribeAclsRequest_v1(ANY, None, ANY, None, None, ANY, ANY)
    response = await _send(admin, request)
    if response.error_code:
        raise BusAdminError(f"DescribeAcls: {response.error_message or response.error_code}")
    found: set[Acl] = set()
    for resource_type, name, pattern, acls in response.resources:
        if resource_type not in RESOURCE_NAME or pattern != LITERAL:
            continue
        for principal, _host, operation, permission in acls:
            if permission == ALLOW and operation in OPERATION_NAME:
                found.add(
                    Acl(principal, RESOURCE_NAME[resource_type], name, OPERATION_NAME[operation])
                )
    return found


def _binding(acl: Acl) -> tuple[Any, ...]:
    return (
        RESOURCE_TYPE[acl.resource],
        acl.name,
        LITERAL,
        acl.principal,
        "*",
        OPERATION[acl.operation],
        ALLOW,
    )


async def create_acls(admin: AIOKafkaAdminClient, acls: Iterable[Acl]) -> None:
    creations = [_binding(acl) for acl in sorted(acls)]
    if not creations:
        return
    response = await _send(admin, CreateAclsRequest_v1(creations))
    failed = [message or str(code) for code, message in response.creation_responses if code]
    if failed:
        raise BusAdminError("ACLs refused: " + "; ".join(sorted(set(failed))))


async def delete_acls(admin: AIOKafkaAdminClient, acls: Iterable[Acl]) -> None:
    filters = [_binding(acl) for acl in sorted(acls)]
    if not filters:
        return
    response = await _send(admin, DeleteAclsRequest_v1(filters))
    failed = [message or str(code) for code, message, _ in response.filter_responses if code]
    if failed:
        raise BusAdminError("ACL deletions refused: " + "; ".join(sorted(set(failed))))


@dataclass(frozen=True)
class AclChanges:
    created: frozenset[Acl]
    deleted: frozenset[Acl]


async def reconcile_acls(
    admin: AIOKafkaAdminClient, wanted: set[Acl], principals: Iterable[str]
) -> AclChanges:
    """Make the bindings of ``principals`` (``User:<name>``) exactly ``wanted``: what is
    missing is created, what the table no longer grants is deleted. Other principals'
    bindings are left alone."""
    managed = set(principals)
    present = {acl for acl in await describe_acls(admin) if acl.principal in managed}
    missing = wanted - present
    extra = present - wanted
    await create_acls(admin, missing)
    await delete_acls(admin, extra)
    return AclChanges(frozenset(missing), frozenset(extra))


async def provision_principals(access: KafkaAccess, passwords: dict[str, str]) -> AclChanges:
    """As the super user: set the given SCRAM credentials (by username), then make every
    principal's ACLs those of ``schemas.bus_access``; return once each new credential
    authenticates (the controller records it at once, the brokers a moment later)."""
    async with admin_client(access, client_id="hub-bus-admin") as admin:
        await set_scram_credentials(admin, passwords)
        changes = await reconcile_acls(
            admin, all_acls(), [f"User:{principal.username}" for principal in PRINCIPALS]
        )
    for username, password in sorted(passwords.items()):
        await _authenticates(access.as_user(username, password))
    return changes


async def _authenticates(access: KafkaAccess, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        client = AIOKafkaClient(client_id="hub-bus-admin", **access.client_options())
        try:
            await client.bootstrap()
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise BusAdminError(f"{access.username} cannot authenticate") from None
            await asyncio.sleep(0.2)
        finally:
            await client.close()
