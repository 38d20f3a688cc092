"""Tags of the pages' frame (templates/base.html and its includes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


class RenderedOnceNode(template.Node):
    def __init__(self, nodelist: template.NodeList) -> None:
        self.nodelist = nodelist
        self.rendered: SafeString | None = None

    def render(self, context: template.Context) -> SafeString:
        # Templates are compiled once per process (Django's cached loader): so is what this node keeps. Two threads
        # rendering it first at the same time both write the same text.
        if self.rendered is None:
            self.rendered = self.nodelist.render(context)
        return self.rendered


@register.tag
def rendered_once(parser: template.base.Parser, token: template.base.Token) -> RenderedOnceNode:
    """{% rendered_once %}…{% endrendered_once %}: the enclosed markup is rendered at its first use in the process
    and given back as it is afterwards. Only for markup that depends on nothing but the settings, the URLs and the
    static files (the head, the skip links, the header's brand, the footer): no user, no request, no CSRF token or
    CSP nonce inside, or the first visitor's would be everyone's.

    The footer cost a tenth of a page's rendering (function calls of a deterministic profile) to print the same
    text every time."""
    nodelist = parser.parse(("endrendered_once",))
    parser.delete_first_token()
    return RenderedOnceNode(nodelist)


_CURRENT = mark_safe(' aria-current="page"')  # a constant: nothing to escape


@register.simple_tag
def nav_items(entries: Iterable[Mapping[str, object]]) -> SafeString:
    """The main menu's items (`main_nav`, from portal.navigation.nav_for): one `<li>` each, the current one marked
    aria-current. Written here rather than as a loop of template variables, which cost a fifth of the header."""
    return format_html_join(
        "\n",
        '<li class="fr-nav__item"><a class="fr-nav__link" href="{}"{}>{}</a></li>',
        ((entry["url"], _CURRENT if entry["active"] else "", entry["label"]) for entry in entries),
    )
