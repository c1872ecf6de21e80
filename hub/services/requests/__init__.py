"""Footage requests at the hub: filing, the data controller's decision, holds at the hub and the
edge, clip jobs by priority, fulfilment, release with the disclosure log, outcome, retention and
deletion, and the requester's mail at each step. The rules are ``hub.domain.requests``; this
package runs them against storage, MQTT and the mailer, each step with its custody row."""
