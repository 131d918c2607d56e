"""The Kafka sink beyond the shared contract: how it is chosen, how it cuts records,
and what it says when the broker or the topic will not take a batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from runstream.codec import decode_batch, encode_batch
from runstream.events import Envelope, LogLines, RunSubmitted, new_event, partition_key
from runstream.httpsink import HttpSink
from runstream.kafkasink import DEFAULT_TOPIC, KafkaSink
from runstream.memorysink import MemorySink
from runstream.settings import SdkSettings
from runstream.sink import SinkRejected, SinkUnavailable
from runstream.sinks import open_sink

STREAM = "run/kafka_1"


def run_events(n: int, line: str = "x" * 100) -> list[Envelope]:
    events = [new_event(STREAM, 0, RunSubmitted(project="kafka", script="train.py"))]
    events += [new_event(STREAM, i, LogLines(first=i - 1, lines=[f"{i} {line}"], times=[1.0],
                                             fds=[1])) for i in range(1, n)]
    return events


def test_the_configuration_selects_kafka_and_http_stays_the_default() -> None:
    assert isinstance(open_sink("http://127.0.0.1:8787"), HttpSink)
    sink = open_sink("http://127.0.0.1:8787", "broker:9092", "")
    assert isinstance(sink, KafkaSink)
    assert (sink.bootstrap, sink.topic) == ("broker:9092", DEFAULT_TOPIC)
    assert isinstance(sink.blobs, HttpSink) and sink.blobs.client.url == "http://127.0.0.1:8787"
    settings = SdkSettings.from_env({"RUNSTREAM_KAFKA": "broker:9092",
                                     "RUNSTREAM_KAFKA_TOPIC": "lab.events"})
    assert (settings.kafka, settings.kafka_topic) == ("broker:9092", "lab.events")
    assert SdkSettings.from_env({}).kafka == ""
    assert SdkSettings.from_env({"RUNSTREAM_KAFKA_COMPRESSION": "ZSTD"}).kafka_compression == \
        "zstd"


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    name = f"sink.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    # Kafka's default record limit, as on a topic the runstream server did not create.
    admin.create_topics([NewTopic(name, 2, 1, topic_configs={"max.message.bytes": "1048588"})])
    yield name
    admin.delete_topics([name])
    admin.close()


def records_of(bootstrap: str, topic: str) -> list[tuple[bytes, list[Envelope]]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    out: list[tuple[bytes, list[Envelope]]] = []
    while any(consumer.position(tp) < end[tp] for tp in tps):
        for records in consumer.poll(timeout_ms=500).values():
            out += [(r.key, decode_batch(r.value)) for r in records]
    consumer.close()
    return out


@pytest.mark.kafka
def test_a_large_batch_is_cut_into_records_at_event_boundaries(kafka_bootstrap: str,
                                                               topic: str) -> None:
    sink = KafkaSink(kafka_bootstrap, topic, blobs=MemorySink(), record_bytes=10_000)
    events = run_events(500)
    sink.send(STREAM, encode_batch(events[:1]), 1)
    sink.send(STREAM, encode_batch(events[1:]), 499)
    sink.close()
    records = records_of(kafka_bootstrap, topic)
    assert sink.records == len(records) > 5
    assert {key for key, _ in records} == {partition_key(STREAM).encode()}
    assert [e.id for _, batch in records for e in batch] == [e.id for e in events]
    assert all(len(encode_batch(batch)) <= 10_000 for _, batch in records)


@pytest.mark.kafka
def test_a_record_larger_than_the_topic_takes_is_rejected_with_advice(
        kafka_bootstrap: str, topic: str) -> None:
    sink = KafkaSink(kafka_bootstrap, topic, blobs=MemorySink())
    huge = run_events(2, line="y" * (2 << 20))
    with pytest.raises(SinkRejected, match=r"larger than topic .* takes.*max\.message\.bytes"):
        sink.send(STREAM, encode_batch(huge), 2)
    sink.send(STREAM, encode_batch(huge[:1]), 1)  # the sink is still usable
    sink.close()
    # The first event went in its own record before the refusal, and again now: a
    # duplicate the consumer drops. The huge one never got in.
    assert {e.seq for _key, batch in records_of(kafka_bootstrap, topic) for e in batch} == {0}


@pytest.mark.kafka
def test_a_missing_topic_is_unavailable_and_says_who_creates_it(kafka_bootstrap: str) -> None:
    sink = KafkaSink(kafka_bootstrap, f"missing.{uuid.uuid4().hex[:10]}", blobs=MemorySink(),
                     timeout=2)
    with pytest.raises(SinkUnavailable, match="does not exist, start a runstream server"):
        sink.send(STREAM, encode_batch(run_events(1)), 1)
    sink.close()


def test_an_unreachable_broker_is_unavailable_quickly() -> None:
    sink = KafkaSink("127.0.0.1:1", blobs=MemorySink(), timeout=1)
    with pytest.raises(SinkUnavailable, match=r"cannot reach Kafka at 127\.0\.0\.1:1"):
        sink.send(STREAM, encode_batch(run_events(1)), 1)


@pytest.mark.kafka
def test_compressed_records_read_back_as_sent(kafka_bootstrap: str, topic: str) -> None:
    sink = open_sink("http://127.0.0.1:8787", kafka_bootstrap, topic, "zstd")
    assert isinstance(sink, KafkaSink) and sink.compression == "zstd"
    events = run_events(200)
    sink.send(STREAM, encode_batch(events), 200)
    sink.close()
    assert [e.id for _key, batch in records_of(kafka_bootstrap, topic) for e in batch] == [
        e.id for e in events]


@pytest.mark.kafka
def test_an_unknown_compression_is_rejected_with_the_reason(kafka_bootstrap: str,
                                                            topic: str) -> None:
    sink = KafkaSink(kafka_bootstrap, topic, blobs=MemorySink(), compression="brotli")
    with pytest.raises(SinkRejected, match="Not supported codec"):
        sink.send(STREAM, encode_batch(run_events(1)), 1)
