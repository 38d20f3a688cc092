"""{% rendered_once %}: markup rendered at its first use in the process, then given back as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Engine

LIBRARIES = {"page_tags": "vaccine_orders.portal.templatetags.page_tags"}


def test_the_enclosed_markup_is_rendered_once_and_the_rest_each_time():
    template = Engine(libraries=LIBRARIES).from_string(
        "{% load page_tags %}{% rendered_once %}<p>{{ who }}</p>{% endrendered_once %}<i>{{ who }}</i>"
    )
    assert template.render(Context({"who": "<premier>"})) == "<p>&lt;premier&gt;</p><i>&lt;premier&gt;</i>"
    assert template.render(Context({"who": "second"})) == "<p>&lt;premier&gt;</p><i>second</i>"


def test_what_the_footer_renders_once_reads_nothing_of_the_request_or_the_user():
    source = Path(settings.BASE_DIR, "templates/includes/footer.html").read_text(encoding="utf-8")
    frozen = re.search(r"{% rendered_once %}(.*){% endrendered_once %}", source, re.S).group(1)
    assert "fr-footer__bottom-list" in frozen  # the footer itself is inside
    # Only the settings (the context processor's constants) and URL names: nothing of a request or a user.
    variables = {name.split(".")[0] for name in re.findall(r"{{\s*([\w.]+)", frozen)}
    assert variables <= {"SERVICE_NAME", "SERVICE_OPERATOR", "SITE_CONFIG"}, variables
    tags = set(re.findall(r"{%\s*(\w+)", frozen))
    assert tags <= {"url", "static", "block", "endblock"}, tags
    assert "csp_nonce" in source.split("{% endrendered_once %}")[1]  # the script's nonce stays outside


@pytest.mark.django_db
def test_every_page_still_has_the_whole_footer(client):
    for url in ("/", "/aide/"):
        footer = client.get(url).content.decode().split('<footer class="fr-footer"')[1]
        assert "Contacter le support" in footer and "Données personnelles" in footer and "licence etalab-2.0" in footer
