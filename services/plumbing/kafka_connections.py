"""One correction to aiokafka: a connection the broker closed is a broken connection on
uvloop too. Applied when ``kafka`` is imported.

Found by the fault suite (a broker SIGKILLed and started again on its log, one run in
nine): one router's consumer stopped for good while its group membership lived on, so its
partitions were read by nobody and their referrals were never routed."""

from __future__ import annotations

from typing import Any

from aiokafka import errors
from aiokafka.conn import AIOKafkaConnection, CloseReason


def broken_transports_are_connection_errors() -> None:
    """aiokafka (0.14) writes a request to a connection's transport and takes an
    ``OSError`` for a broken connection: it closes the connection and raises
    ``KafkaConnectionError``, which every caller retries. asyncio's transports raise nothing
    when the peer has gone (they drop the write), but uvloop's, which the services run on
    (``plumbing.http.serve``), raise ``RuntimeError("unable to perform operation on
    <TCPTransport closed=True ...>; the handler is closed")`` once the broker has closed the
    socket (aio-libs/aiokafka#1038, open). That error escapes aiokafka's retries: in a
    consumer's group coordination task it ends the task, after which every poll raises it
    again while the heartbeats go on, so the group never gives the consumer's partitions to
    another; in a producer's sender task it ends the task, and every later send fails.

    A ``RuntimeError`` from writing to a transport that is closing is therefore taken as the
    ``OSError`` it stands for; any other ``RuntimeError`` is raised as it was."""
    original = AIOKafkaConnection.send
    if getattr(original, "tolerates_closed_transports", False):
        return

    def send(self: AIOKafkaConnection, request: Any, expect_response: bool = True) -> Any:
        try:
            return original(self, request, expect_response)
        except RuntimeError as err:
            writer = self._writer
            if writer is None or not writer.transport.is_closing():
                raise
            self.close(reason=CloseReason.CONNECTION_BROKEN)
            raise errors.KafkaConnectionError(
                f"Connection at {self.host}:{self.port} broken: the broker closed it"
            ) from err

    send.tolerates_closed_transports = True  # type: ignore[attr-defined]
    AIOKafkaConnection.send = send
