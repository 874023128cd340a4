"""Real adapters behind the ports: Redis stores, the Kafka publisher, push gateways, clocks."""
