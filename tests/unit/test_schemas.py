from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from schemas import topics
from schemas.codes import Service
from schemas.envelope import CloudEvent, envelope
from schemas.events import HeldRoute


def test_every_service_has_a_queue_and_every_topic_a_dead_letter_topic() -> None:
    assert topics.queue_for(Service.IDVA) in topics.main_topics()
    main = topics.main_topics()
    assert len(main) == 11  # five referral topics, the contact changes, five queues
    retries = {f"{t}.retry.{n}" for t in main for n in (1, 2, 3)}
    assert set(topics.all_topics()) == set(main) | {f"{t}.dlt" for t in main} | retries


def test_consumers_ignore_fields_a_newer_producer_added() -> None:
    referral_id = uuid.uuid4()
    body = envelope(
        source="test",
        type_="t.v1",
        subject=referral_id,
        data=HeldRoute(
            service=Service.VAL, sub_service="core", priority="high", rule_ids=["R-VAL"], reason="r"
        ),
    )
    body["data"]["added_in_a_later_release"] = 1
    body["also_new"] = True
    event = CloudEvent[HeldRoute].model_validate(body)
    assert event.subject == str(referral_id)
    assert event.specversion == "1.0"


def test_validation_errors_do_not_echo_the_event() -> None:
    with pytest.raises(ValidationError) as caught:
        CloudEvent[HeldRoute].model_validate(
            {"source": "Secret Person", "data": {"service": "Secret"}}
        )
    assert "Secret" not in str(caught.value)
