"""E-mails of the accounts app (the code of the e-mail dialog, the notice to a previous address).

Rendered from `<prefix>_subject.txt`, `<prefix>_message.txt` and, when it exists, `<prefix>_message.html`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string


def send_templated_mail(template_prefix: str, to: str, context: dict[str, Any]) -> None:
    context = {"SERVICE_NAME": settings.SERVICE_NAME, "SITE_URL": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"{template_prefix}_subject.txt", context).splitlines()).strip()
    body = render_to_string(f"{template_prefix}_message.txt", context).strip()
    message = EmailMultiAlternatives(
        f"{settings.EMAIL_SUBJECT_PREFIX}{subject}", body, settings.DEFAULT_FROM_EMAIL, [to]
    )
    with contextlib.suppress(TemplateDoesNotExist):
        message.attach_alternative(render_to_string(f"{template_prefix}_message.html", context), "text/html")
    message.send()
