"""Captures the octets that an independent MQTT-SN implementation encodes, as cross-check vectors.

The implementation is the `mqttsn` package from PyPI (version 0.0.4, "Python client based on Eclipse
RSMB client for MQTT-SN brokers", MIT licence), itself a port of the Paho/RSMB Python MQTT-SN client.
Each message is built with that package's own classes and serialised with its own `pack()`; nothing
here computes an octet. The output, one `name hex` line per message, is `paho-python-mqttsn-0.0.4.txt`
beside this script, which the Rust test reads; the test needs neither Python nor this package.

Run (outside the repository's build; any Python 3.8+):

    python3 -m venv /tmp/snvenv && /tmp/snvenv/bin/pip install mqttsn==0.0.4
    /tmp/snvenv/bin/python capture.py > paho-python-mqttsn-0.0.4.txt
"""

import contextlib
import io
import logging
import sys
from importlib.metadata import version

from mqttsn.lib.connects import Connects
from mqttsn.lib.disconnects import Disconnects
from mqttsn.lib.publishes import Pubacks, Pubcomps, Publishes, Pubrecs, Pubrels
from mqttsn.lib.registers import Registers
from mqttsn.lib.subscribes import Subscribes
from mqttsn.lib.unsubscribes import Unsubscribes
from mqttsn.lib.will import WillMsgs

logging.disable(logging.CRITICAL)


def built(cls, **fields):
    message = cls()
    for name, value in fields.items():
        if name.startswith("flags_"):
            setattr(message.flags, name[len("flags_"):], value)
        else:
            setattr(message, name, value)
    return message


# (name, message). Field values are this package's own representations (bytes where it concatenates
# bytes). Its Flags default CleanSession to True, and it keeps that default in every message.
CASES = [
    ("connect", built(Connects, client_id=b"sensor-1", duration=60)),
    ("connect_will", built(Connects, client_id=b"n7", duration=300, flags_will=True,
                           flags_clean_session=False)),
    ("register", built(Registers, topic_id=0, msg_id=1, topic_name=b"sensors/kitchen/t")),
    ("publish_normal_qos1", built(Publishes, topic_id=1, msg_id=2, data=b"21.5", flags_qos=1)),
    ("publish_short_qos0", built(Publishes, topic_name="tt", msg_id=0, data=b"on",
                                 flags_topic_id_type=2)),
    ("publish_predefined_qos_minus_one", built(Publishes, topic_id=5, msg_id=0, data=b"x",
                                               flags_qos=3, flags_topic_id_type=1)),
    ("publish_qos2_dup_retain", built(Publishes, topic_id=0x0102, msg_id=0xBEEF, data=b"\x00\xff",
                                      flags_qos=2, flags_dup=True, flags_retain=True)),
    ("publish_long_300", built(Publishes, topic_id=1, msg_id=3, data=bytes(range(256)) + bytes(44),
                               flags_qos=1)),
    ("puback", built(Pubacks, topic_id=1, msg_id=2, return_code=2)),
    ("pubrec", built(Pubrecs, msg_id=0x1234)),
    ("pubrel", built(Pubrels, msg_id=0x1234)),
    ("pubcomp", built(Pubcomps, msg_id=0x1234)),
    ("subscribe_name", built(Subscribes, msg_id=3, topic_name="sensors/#", flags_qos=1)),
    ("subscribe_predefined", built(Subscribes, msg_id=4, topic_id=9, flags_qos=2,
                                   flags_topic_id_type=1)),
    ("unsubscribe_name", built(Unsubscribes, msg_id=6, topic_name="a/+")),
    ("disconnect_sleep", built(Disconnects, duration=3600)),
    ("willmsg", built(WillMsgs, will_msg=b"gone")),
]


def main():
    print(f"# mqttsn {version('mqttsn')} (PyPI), Python {sys.version.split()[0]}: name, then octets")
    for name, message in CASES:
        try:
            # Its PUBLISH.pack() prints the buffer to stdout; keep that out of the vectors.
            with contextlib.redirect_stdout(io.StringIO()):
                octets = message.pack()
        except Exception as error:  # The package cannot pack some messages; say so, do not guess.
            print(f"# {name}: pack() failed: {type(error).__name__}: {error}")
            continue
        print(name, octets.hex())


if __name__ == "__main__":
    main()
