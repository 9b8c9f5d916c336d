"""Each service's native message for an `Event`: pure functions, no I/O.

An event's text is plain (and already masked); every function here escapes it for its own
markup, so a commit message holding `<script>`, `*bold*` or `@everyone` shows as typed and
pings nobody. Each message links to the deployment's page and is coloured by outcome.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from app.domain.notify import Event, colour

MAX_LINES = 30
LINK_LABEL = "Open the deployment"
ZWSP = "\u200b"  # zero-width space: breaks `@everyone` and ``` without showing
MENTION = re.compile(r"@(?=(everyone|here|channel|all)\b)", re.IGNORECASE)
MARKDOWN_SPECIAL = re.compile(r"([\\*_~`|\[\]()<>#!-])")  # Discord's, CommonMark's
TEAMS_SPECIAL = re.compile(r"([\\*_~`|\[\]()#!-])")  # after HTML escaping


def _tail(lines: list[str], limit: int) -> str:
    """The last lines that fit in `limit` characters (the end of a log matters most); at
    least the end of the last line."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines[-MAX_LINES:]):
        size += len(line) + 1
        if size > limit:
            break
        kept.append(line)
    if not kept and lines:
        return "…" + lines[-1][-(limit - 1) :]
    return "\n".join(reversed(kept))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code_block(lines: list[str], limit: int, escape: Callable[[str], str] = str) -> str:
    """Lines in a ``` block; a ``` inside a line cannot close it."""
    body = _tail(lines, limit - 8).replace("```", f"`{ZWSP}``")
    return f"```\n{escape(body)}\n```" if body else ""


def no_mentions(text: str) -> str:
    return MENTION.sub(f"@{ZWSP}", text)


def slack_escape(text: str) -> str:
    """Slack's escaping: only &, < and > (which would make links and mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_escape(text: str) -> str:
    """Backslash escapes (Discord, Mattermost: CommonMark), mentions broken."""
    return no_mentions(MARKDOWN_SPECIAL.sub(r"\\\1", text))


def teams_escape(text: str) -> str:
    """Teams' cards render a little HTML and Markdown: entities, then backslashes."""
    return no_mentions(TEAMS_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)))


def _lines_of(event: Event) -> list[str]:
    """The event as plain lines: title, project, facts, link (the body of text messages)."""
    lines = [event.title]
    if event.project:
        lines.append(f"Project: {event.project}")
    lines += [f"{name}: {value}" for name, value in event.facts.items()]
    if event.url:
        lines.append(f"{LINK_LABEL}: {event.url}")
    return lines


def plain_text(event: Event) -> str:
    text = "\n".join(_lines_of(event))
    if event.lines:
        text += "\n\nLast lines of the log:\n" + _tail(event.lines, 3000)
    return text


def slack(event: Event) -> dict[str, Any]:
    fallback = slack_escape(event.title)
    if event.url:
        fallback = f"<{slack_escape(event.url)}|{fallback}>"
    attachment: dict[str, Any] = {
        "fallback": slack_escape(event.title),
        "color": colour(event.kind),
        "title": slack_escape(_clip(event.title, 250)),
        "fields": [
            {"title": name, "value": slack_escape(value), "short": len(value) <= 40}
            for name, value in event.facts.items()
        ],
        "mrkdwn_in": ["text"],
    }
    if event.url:
        attachment["title_link"] = event.url
    if event.lines:
        attachment["text"] = _code_block(event.lines, 3000, slack_escape)
    if event.project:
        attachment["footer"] = slack_escape(event.project)
    return {"text": fallback, "attachments": [attachment]}


def mattermost(event: Event) -> dict[str, Any]:
    text = markdown_escape(event.title)
    if event.url:
        text = f"[{text}]({event.url.replace(')', '%29')})"
    attachment: dict[str, Any] = {
        "fallback": no_mentions(event.title),
        "color": colour(event.kind),
        "title": no_mentions(_clip(event.title, 250)),
        "fields": [
            {"title": no_mentions(name), "value": markdown_escape(value), "short": len(value) <= 40}
            for name, value in event.facts.items()
        ],
    }
    if event.url:
        attachment["title_link"] = event.url
    if event.lines:
        attachment["text"] = _code_block(event.lines, 6000, no_mentions)
    if event.project:
        attachment["footer"] = no_mentions(event.project)
    return {"text": text, "attachments": [attachment]}


def discord(event: Event) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": _clip(markdown_escape(event.title), 256),
        "color": int(colour(event.kind).lstrip("#"), 16),
        "fields": [
            {
                "name": _clip(markdown_escape(name), 256),
                "value": _clip(markdown_escape(value), 1024) or "-",
                "inline": len(value) <= 40,
            }
            for name, value in list(event.facts.items())[:25]
        ],
    }
    if event.url:
        embed["url"] = event.url
    if event.lines:
        embed["description"] = _code_block(event.lines, 4000)
    if event.project:
        embed["footer"] = {"text": _clip(no_mentions(event.project), 2048)}
    return {"content": "", "embeds": [embed], "allowed_mentions": {"parse": []}}


def teams(event: Event) -> dict[str, Any]:
    section: dict[str, Any] = {
        "activityTitle": teams_escape(event.title),
        "facts": [
            {"name": teams_escape(name), "value": teams_escape(value)}
            for name, value in event.facts.items()
        ],
        "markdown": True,
    }
    if event.project:
        section["activitySubtitle"] = teams_escape(event.project)
    if event.lines:
        section["text"] = "<pre>" + html.escape(_tail(event.lines, 6000)) + "</pre>"
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": colour(event.kind).lstrip("#"),
        "summary": _clip(event.title, 200),
        "title": teams_escape(event.title),
        "sections": [section],
    }
    if event.url:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": LINK_LABEL,
                "targets": [{"os": "default", "uri": event.url}],
            }
        ]
    return card


def telegram(event: Event, chat_id: int | str) -> dict[str, Any]:
    """sendMessage's body: at most 4096 characters in all, so each part is clipped."""
    e = html.escape
    parts = [f"<b>{e(_clip(event.title, 500))}</b>"]
    if event.project:
        parts.append(f"Project: {e(_clip(event.project, 100))}")
    facts = list(event.facts.items())[:15]
    parts += [f"<b>{e(_clip(k, 50))}</b>: {e(_clip(v, 150))}" for k, v in facts]
    if event.url:
        parts.append(f'<a href="{html.escape(event.url)}">{LINK_LABEL}</a>')
    text = "\n".join(parts)
    room = 4000 - len(text)
    if event.lines and room > 100:
        text += "\n<pre>" + html.escape(_tail(event.lines, room // 2)) + "</pre>"
    return {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }


def webhook(event: Event, delivery_id: str, sent_at: datetime) -> bytes:
    """The generic webhook's JSON body, as the bytes that are signed and sent."""
    body = {
        "event": event.kind.value,
        "title": event.title,
        "project": event.project,
        "url": event.url,
        "facts": event.facts,
        "lines": event.lines,
        "delivery": delivery_id,
        "sent_at": sent_at.isoformat(),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _html(event: Event) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in event.facts.items()
    )
    parts = [f"<h2 style='border-left:6px solid {colour(event.kind)};padding-left:8px'>"
             f"{e(event.title)}</h2>"]  # fmt: skip
    if event.project:
        parts.append(f"<p>Project: <b>{e(event.project)}</b></p>")
    if rows:
        parts.append(f"<table>{rows}</table>")
    if event.url:
        parts.append(f'<p><a href="{e(event.url)}">{LINK_LABEL}</a></p>')
    if event.lines:
        parts.append(f"<pre>{e(_tail(event.lines, 20000))}</pre>")
    return "<!DOCTYPE html><html><body>" + "".join(parts) + "</body></html>"


def email(
    event: Event, sender: str, to: list[str], delivery_id: str, now: datetime
) -> EmailMessage:
    """A multipart/alternative message; ValueError if an address or header is unusable."""
    message = EmailMessage()
    message["Subject"] = " ".join(event.title.split())
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(now)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "capstan.invalid"
    message["Message-ID"] = make_msgid("capstan", domain=domain)
    message["X-Capstan-Delivery"] = delivery_id
    message.set_content(plain_text(event))
    message.add_alternative(_html(event), subtype="html")
    return message
