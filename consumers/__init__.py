"""The Kafka consumer workers: decode, validate, evaluate, write, alert, dead-letter."""
