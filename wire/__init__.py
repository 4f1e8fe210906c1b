"""The wire contract: the canonical event, the MQTT topic tree and its payloads.

The bottom layer: it imports no other package of the project, and every other package may
import it. Pure: no I/O, no clock.
"""
