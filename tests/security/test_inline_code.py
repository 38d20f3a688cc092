"""The Content-Security-Policy allows scripts and styles from the site's files only (script-src 'self' + nonce,
style-src 'self'): a page with an inline script, a style="" attribute, an inline <style> or an event handler
attribute would be broken for its users. Every GET page of the authorization matrix is read, as a role that may
see it, and so are the admin's pages."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.contrib import admin
from django.urls import reverse

from .matrix import MATRIX, build_url, cases_of
from .world import PHARMACY_A, ROLES, SUPERUSER

pytestmark = pytest.mark.django_db

DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}  # data blocks: never executed


def inline_code(html: str) -> list[str]:
    """Every construct of `html` that the policy would block, in words."""
    soup = BeautifulSoup(html, "html.parser")
    found = []
    for script in soup.find_all("script"):
        if not script.get("src") and script.get("type", "").lower() not in DATA_SCRIPT_TYPES:
            found.append(f"inline <script>: {str(script)[:120]}")
    for style in soup.find_all("style"):
        found.append(f"inline <style>: {str(style)[:120]}")
    for element in soup.find_all(True):
        for attribute, value in element.attrs.items():
            if attribute == "style":
                found.append(f'style="" on <{element.name}>: {str(element)[:120]}')
            elif attribute.startswith("on"):
                found.append(f"{attribute}= on <{element.name}>: {str(element)[:120]}")
            elif attribute in ("href", "src", "action") and str(value).strip().lower().startswith("javascript:"):
                found.append(f"javascript: URL on <{element.name}>")
    return found


def test_the_detector_finds_what_the_policy_blocks():
    assert len(inline_code('<script>alert(1)</script><p style="color:red" onclick="x()">a</p><style>p{}</style>')) == 4
    assert (
        inline_code('<script src="/static/a.js" nonce="n"></script><script type="application/json">{}</script>') == []
    )
    assert inline_code('<a href="javascript:void(0)">x</a>') == ["javascript: URL on <a>"]


def _pages(world) -> list[tuple[str, str, str]]:
    """(key, url, role) for every GET case that some role sees (200): the first such role, and officine A too
    when it may (logged-in pages carry more: the menu, the account links)."""
    pages = []
    for key in sorted(MATRIX):
        for case in cases_of(key):
            if case.method != "GET" or case.query:
                continue
            seeing = [role for role in ROLES if case.expected[role] == 200 and isinstance(case.expected[role], int)]
            for role in dict.fromkeys(seeing[:1] + ([PHARMACY_A] if PHARMACY_A in seeing else [])):
                pages.append((key, build_url(key, case, world), role))
    return pages


def test_no_page_has_inline_scripts_or_styles(world, clients):
    problems, html_pages = [], 0
    for key, url, role in _pages(world):
        response = clients[role].get(url)
        assert response.status_code == 200, (key, url, role, response.status_code)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        html_pages += 1
        problems += [f"{url} ({role}): {problem}" for problem in inline_code(response.content.decode())]
    assert html_pages >= 40
    assert not problems, "\n".join(problems)


def test_no_admin_page_has_inline_scripts_or_styles(world, clients):
    """The admin's index, and the list and the add form of every model (the superuser sees them all)."""
    superuser = clients[SUPERUSER]
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        if model_admin.has_add_permission(_request_for(world.users[SUPERUSER])):
            urls.append(reverse("admin:{}_{}_add".format(*info)))
    problems = []
    for url in urls:
        response = superuser.get(url)
        assert response.status_code == 200, (url, response.status_code)
        problems += [f"{url}: {problem}" for problem in inline_code(response.content.decode())]
    assert not problems, "\n".join(problems)


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request
