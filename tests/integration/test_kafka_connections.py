"""A Kafka connection the broker closed, on uvloop as the services run: aiokafka must see a
broken connection (and retry), never an error that ends its consumer's or producer's task
(aio-libs/aiokafka#1038)."""

from __future__ import annotations

import asyncio

import uvloop
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest

from services.plumbing import kafka_connections
from services.plumbing.kafka_access import KafkaAccess


async def _request_on_a_closed_connection(access: KafkaAccess) -> BaseException | None:
    client = AIOKafkaClient(**access.client_options())
    await client.bootstrap()
    try:
        (node_id,) = {broker.nodeId for broker in client.cluster.brokers()}
        conn = await client._get_conn(node_id)
        assert conn is not None
        transport = conn._writer.transport
        transport.abort()  # as when the broker goes: the socket closed under the connection
        # uvloop closes the handle in a callback it has just queued: wait for the loop to
        # have run what was queued before ours.
        turned = asyncio.Event()
        asyncio.get_running_loop().call_soon(turned.set)
        await turned.wait()
        try:
            await conn.send(MetadataRequest([]))
        except BaseException as err:  # what it raises is the test's subject
            return err
        return None
    finally:
        await client.close()


def test_a_request_on_a_connection_the_broker_closed_is_a_connection_error(
    kafka: KafkaAccess,
) -> None:
    kafka_connections.broken_transports_are_connection_errors()  # as importing ``kafka`` does
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        raised = runner.run(_request_on_a_closed_connection(kafka))
    assert isinstance(raised, KafkaConnectionError), repr(raised)
