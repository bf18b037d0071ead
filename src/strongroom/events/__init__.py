"""Events out: the outbox relay, signed webhooks, NATS JetStream, and the worker.

The engine writes an outbox event in the same transaction as every change; this
package carries those events out, at least once, to every sink:

* ``relay`` fans each tenant's events out to its webhook endpoints as delivery
  rows, claims due deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), sends
  them and records every attempt; it publishes to NATS JetStream from a cursor.
* ``endpoints`` is the feature service behind ``/v1/webhook-endpoints``.
* ``worker`` runs the relay and the integrity jobs on a schedule.
"""
