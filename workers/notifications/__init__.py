"""Notification fan-out and delivery: in-app, e-mail and push, by preference, exactly once per person.

``fanout.fan_out`` turns one event into deliveries (``notifications.fanout``);
``delivery.deliver`` sends one e-mail or push (``notifications.deliver``);
``digest.build_digests`` gathers low-priority e-mails into one a day (``notifications.send_digests``).
"""


class SendError(Exception):
    """A send that failed; ``transient`` says whether trying again may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
