"""Notification texts: ``templates.json`` (data) and how it becomes a title, a message, an e-mail.

Placeholders are ``{name}`` fields of the event's context (``context.py``); a missing or empty
one renders as nothing, so a template never fails on an optional field. Values are substituted,
never parsed: a ``{`` in a product name or an answer is just text. In HTML every value is escaped.
"""

from __future__ import annotations

import html
import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from storage.notification_models import Channel

TEMPLATES_PATH = Path(__file__).with_name("templates.json")
DEFAULT_LANGUAGE = "en"
PRIORITIES = ("low", "normal", "high", "urgent")


class _Lenient(string.Formatter):
    """``str.format`` where an unknown field, key or index renders as an empty string."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        try:
            return super().get_field(field_name, args, kwargs)
        except (KeyError, IndexError, AttributeError, TypeError):
            return "", field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        return "" if value is None else super().format_field(value, format_spec)


_FORMATTER = _Lenient()
_SPACES = re.compile(r"[ \t]+")


def fill(template: str, context: Mapping[str, Any]) -> str:
    """``template`` with its fields filled from ``context``; runs of spaces left by empty fields go."""
    return _SPACES.sub(" ", _FORMATTER.vformat(template, (), context)).strip()


def absolute(site_url: str, url: str | None) -> str:
    """A rendered action URL as a link for e-mail and push (relative ones are joined to the shop)."""
    if not url:
        return ""
    if url.startswith(("http://", "https://")):
        return url
    return f"{site_url.rstrip('/')}/{url.lstrip('/')}"


@dataclass(frozen=True)
class Text:
    title: str
    message: str
    action_url: str
    thumbnail_url: str


@dataclass(frozen=True)
class Rendered:
    """One notification's words in one language, as stored in ``notifications``."""

    title: str
    message: str
    action_url: str | None
    thumbnail_url: str | None
    priority: str


@dataclass(frozen=True)
class TypeSpec:
    name: str
    priority: str
    ttl_days: float | None
    channels: Mapping[Channel, bool]  # defaults when a user has chosen nothing
    related_type: str | None
    related_id: str | None  # the event field stored as notifications.related_id
    variant: str | None  # the event field that picks a text from ``variants``
    text: Mapping[str, Text]
    variants: Mapping[str, Mapping[str, Text]]

    def text_for(self, language: str, variant: str | None) -> Text:
        texts = self.variants.get(variant or "", self.text)
        return texts.get(language) or texts[DEFAULT_LANGUAGE]

    def render(self, language: str, context: Mapping[str, Any], priority: str | None = None) -> Rendered:
        variant = str(context.get(self.variant, "")) if self.variant else None
        text = self.text_for(language, variant)
        return Rendered(
            title=fill(text.title, context)[:255],
            message=fill(text.message, context),
            action_url=fill(text.action_url, context)[:500] or None,
            thumbnail_url=fill(text.thumbnail_url, context)[:500] or None,
            priority=priority or self.priority,
        )


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Catalog:
    types: Mapping[str, TypeSpec]
    email_layout: Mapping[str, Mapping[str, str]]
    digest_layout: Mapping[str, Mapping[str, str]]
    preferences_url: str

    def spec(self, type_name: str) -> TypeSpec:
        try:
            return self.types[type_name]
        except KeyError:
            raise LookupError(f"no notification type {type_name!r} in {TEMPLATES_PATH.name}") from None

    def _layout(self, layouts: Mapping[str, Mapping[str, str]], language: str) -> Mapping[str, str]:
        return layouts.get(language) or layouts[DEFAULT_LANGUAGE]

    def email(self, rendered: Rendered, language: str, site_url: str) -> Email:
        """A notification as an e-mail: the title as subject, a plain-text and an HTML body."""
        layout = self._layout(self.email_layout, language)
        link = absolute(site_url, rendered.action_url)
        return self._compose(
            layout,
            title=rendered.title,
            message_text=rendered.message,
            body_html=f"<p>{html.escape(rendered.message)}</p>\n",
            link=link,
            site_url=site_url,
        )

    def digest(self, items: Sequence[Rendered], language: str, site_url: str) -> Email:
        """Several low-priority notifications as one e-mail, listed in the order given."""
        digest = self._layout(self.digest_layout, language)
        layout = self._layout(self.email_layout, language)
        text_items, html_items = [], []
        for item in items:
            values = {"title": item.title, "message": item.message}
            link = absolute(site_url, item.action_url)
            text_items.append(fill(digest["item_text"], {**values, "action_link": link}))
            html_items.append(_fill_html(digest["item_html"], {**values, "action_link": link}))
        intro = fill(digest["message"], {})
        return self._compose(
            layout,
            title=fill(digest["title"], {}),
            message_text=intro + "\n\n" + "\n".join(text_items),
            body_html=f"<p>{html.escape(intro)}</p>\n<ul>\n" + "\n".join(html_items) + "\n</ul>\n",
            link="",
            site_url=site_url,
        )

    def _compose(
        self,
        layout: Mapping[str, str],
        *,
        title: str,
        message_text: str,
        body_html: str,
        link: str,
        site_url: str,
    ) -> Email:
        footer = fill(layout["footer"], {"preferences_url": absolute(site_url, self.preferences_url)})
        values = {"title": title, "footer": footer, "action_link": link}
        action_text = _FORMATTER.vformat(layout["action_text"], (), values) if link else ""
        action_html = _fill_html(layout["action_html"], values) if link else ""
        text = _FORMATTER.vformat(
            layout["text"], (), {**values, "message": message_text, "action_text": action_text}
        )
        document = _FORMATTER.vformat(
            layout["html"],
            (),
            {
                "title": html.escape(title),
                "footer": html.escape(footer),
                "body": body_html,
                "action_html": action_html,
            },
        )
        return Email(subject=title, text=text, html=document)


def _fill_html(template: str, values: Mapping[str, Any]) -> str:
    return _FORMATTER.vformat(template, (), {k: html.escape(str(v)) for k, v in values.items()})


def _text(raw: Mapping[str, str], where: str) -> Text:
    missing = {"title", "message", "action_url", "thumbnail_url"} - set(raw)
    if missing:
        raise ValueError(f"{where}: missing {sorted(missing)}")
    return Text(raw["title"], raw["message"], raw["action_url"], raw["thumbnail_url"])


def _texts(raw: Mapping[str, Mapping[str, str]], where: str) -> dict[str, Text]:
    if DEFAULT_LANGUAGE not in raw:
        raise ValueError(f"{where}: every text needs an {DEFAULT_LANGUAGE!r} version")
    return {lang: _text(value, f"{where}.{lang}") for lang, value in raw.items()}


def parse_catalog(data: Mapping[str, Any]) -> Catalog:
    """Check and load the templates document; a mistake in it fails at start-up, not mid-fan-out."""
    types: dict[str, TypeSpec] = {}
    for name, raw in data["types"].items():
        if raw["priority"] not in PRIORITIES:
            raise ValueError(f"types.{name}.priority must be one of {PRIORITIES}")
        types[name] = TypeSpec(
            name=name,
            priority=raw["priority"],
            ttl_days=raw.get("ttl_days"),
            channels={channel: bool(raw["channels"][channel.value]) for channel in Channel},
            related_type=raw.get("related_type"),
            related_id=raw.get("related_id"),
            variant=raw.get("variant"),
            text=_texts(raw["text"], f"types.{name}.text"),
            variants={
                value: _texts(texts, f"types.{name}.variants.{value}")
                for value, texts in raw.get("variants", {}).items()
            },
        )
    for section in ("email", "digest"):
        if DEFAULT_LANGUAGE not in data[section]:
            raise ValueError(f"{section}: needs an {DEFAULT_LANGUAGE!r} version")
    return Catalog(
        types=types,
        email_layout=data["email"],
        digest_layout=data["digest"],
        preferences_url=data["preferences_url"],
    )


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The shipped templates, loaded once per process."""
    return parse_catalog(json.loads(TEMPLATES_PATH.read_text(encoding="utf-8")))
