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


FRAME_TEMPLATES = ("templates/base.html", "templates/includes/header.html", "templates/includes/footer.html")


@pytest.mark.parametrize("name", FRAME_TEMPLATES)
def test_what_the_frame_renders_once_reads_nothing_of_the_request_or_the_user(name):
    source = Path(settings.BASE_DIR, name).read_text(encoding="utf-8")
    frozen = re.findall(r"{% rendered_once %}(.*?){% endrendered_once %}", source, re.S)
    assert frozen
    for part in frozen:
        # Only the settings (the context processor's constants), URL names and static files: nothing of a request
        # or a user, no CSRF token, no CSP nonce.
        variables = {name.split(".")[0] for name in re.findall(r"{{\s*([\w.]+)", part)}
        assert variables <= {"SERVICE_NAME", "SERVICE_OPERATOR", "SITE_CONFIG"}, variables
        tags = set(re.findall(r"{%\s*(\w+)", part))
        assert tags <= {"url", "static", "block", "endblock", "dsfr_css", "dsfr_favicon"}, tags
        assert "csp_nonce" not in part and "csrf" not in part


def test_the_footer_and_the_scripts_nonce():
    footer = Path(settings.BASE_DIR, "templates/includes/footer.html").read_text(encoding="utf-8")
    frozen = re.search(r"{% rendered_once %}(.*){% endrendered_once %}", footer, re.S).group(1)
    assert "fr-footer__bottom-list" in frozen  # the footer itself is inside
    assert "csp_nonce" in footer.split("{% endrendered_once %}")[1]  # the script's nonce stays outside


def test_the_menu_items_mark_the_current_page_and_escape_their_text():
    template = Engine(libraries=LIBRARIES).from_string("{% load page_tags %}<ul>{% nav_items entries %}</ul>")
    html = template.render(
        Context(
            {
                "entries": [
                    {"label": "Accueil", "url": "/", "active": False},
                    {"label": "Saisie <de> commande", "url": "/commandes/?a=1&b=2", "active": True},
                ]
            }
        )
    )
    assert html == (
        '<ul><li class="fr-nav__item"><a class="fr-nav__link" href="/">Accueil</a></li>\n'
        '<li class="fr-nav__item"><a class="fr-nav__link" href="/commandes/?a=1&amp;b=2" aria-current="page">'
        "Saisie &lt;de&gt; commande</a></li></ul>"
    )
    assert (
        Engine(libraries=LIBRARIES)
        .from_string("{% load page_tags %}{% nav_items entries %}")
        .render(Context({"entries": []}))
        == ""
    )


@pytest.mark.django_db
def test_every_page_still_has_the_whole_footer(client):
    for url in ("/", "/aide/"):
        footer = client.get(url).content.decode().split('<footer class="fr-footer"')[1]
        assert "Contacter le support" in footer and "Données personnelles" in footer and "licence etalab-2.0" in footer


@pytest.mark.django_db
def test_the_frame_rendered_once_does_not_keep_a_visitors_state(client, django_user_model):
    """The same process serves an anonymous visitor, then a signed-in officine: the frozen parts are the same, the
    parts around them (account links, menu, CSRF token, nonce) are each visitor's own."""
    anonymous = client.get("/aide/").content.decode()
    assert "Se connecter" in anonymous and "Se déconnecter" not in anonymous
    user = django_user_model.objects.create_user(username="agent-frame", is_staff=True)
    client.force_login(user)
    signed_in = client.get("/aide/").content.decode()
    assert "Se déconnecter" in signed_in and "Se connecter</a>" not in signed_in
    nonces = [re.findall(r'nonce="([^"]+)"', page) for page in (anonymous, signed_in)]
    assert nonces[0] and nonces[1] and set(nonces[0]).isdisjoint(nonces[1])  # a fresh nonce per response
    for page in (anonymous, signed_in):
        assert page.count('class="fr-skiplinks"') == 1 and page.count('class="fr-header__brand fr-enlarge-link"') == 1
        assert page.count('<link rel="stylesheet"') >= 3 and "<title>" in page
