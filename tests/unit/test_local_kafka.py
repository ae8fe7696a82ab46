"""What `make run` needs of the machine for its broker, said clearly when it is missing, and
the pinned jars checked before any JVM runs them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from deploy.localstack import kafka


def _fake_java(directory: Path, version: str) -> Path:
    java = directory / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-01' >&2\n")
    java.chmod(0o755)
    return java


def test_no_java_is_named_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kafka.Missing, match=r"Java 17 or later is needed.*openjdk-17"):
        kafka.java()


@pytest.mark.parametrize("version", ["11.0.22", "1.8.0_392"])
def test_an_old_java_is_refused_naming_the_one_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    _fake_java(tmp_path, version)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(kafka.Missing, match="Java 17 or later"):
        kafka.java()


def test_java_17_or_later_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = _fake_java(tmp_path, "21.0.4")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert kafka.java() == str(java)


def test_a_jar_that_differs_from_the_lock_is_found(tmp_path: Path) -> None:
    good = tmp_path / "kafka-clients-4.1.0.jar"
    good.write_bytes(b"the real one")
    extra = tmp_path / "surprise.jar"
    extra.write_bytes(b"x")
    locked = {
        good.name: hashlib.sha256(b"something else").hexdigest(),
        "missing.jar": "0" * 64,
    }
    problems = kafka.verify(tmp_path, locked)
    assert any(p.startswith("missing.jar is missing") for p in problems)
    assert any(p.startswith("surprise.jar is not in the lock") for p in problems)
    assert any(p.startswith("kafka-clients-4.1.0.jar has SHA-256") for p in problems)
    locked[good.name] = hashlib.sha256(b"the real one").hexdigest()
    del locked["missing.jar"]
    extra.unlink()
    assert kafka.verify(tmp_path, locked) == []


def test_the_lock_pins_the_version_the_pom_names() -> None:
    version = kafka.kafka_version()
    names = set(kafka._locked())
    assert f"kafka_2.13-{version}.jar" in names
    assert f"kafka-clients-{version}.jar" in names
    assert all(len(digest) == 64 for digest in kafka._locked().values())
    assert os.path.basename(kafka.POM) == "pom.xml"
