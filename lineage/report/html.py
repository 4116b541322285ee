"""The access report as a letter: one self-contained, print-ready HTML document.

No template engine (none is a dependency) and no external asset: the CSS is
inline, there is no script, no font, no image, so the file opens the same
offline, in a mail attachment, or printed (``@media print``: A4, no colours
needed, rows never split across pages). Every value that reaches the page
passes through :func:`html.escape` in :func:`_e` — event fields come from
product services and must not become markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Any

from jejak.lineage.report.i18n import Lang, t, when

CSS = """
:root { --ink: #1b1f24; --muted: #59636e; --rule: #d0d7de; --flag: #9a3412; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 60rem; padding: 2rem 1.25rem; }
header { border-bottom: 2px solid var(--ink); padding-bottom: 1rem; margin-bottom: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--rule);
     padding-bottom: .25rem; }
.sub { color: var(--muted); margin: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
          margin: 1rem 0 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
table { width: 100%; border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem;
         border-bottom: 1px solid var(--rule); }
th { background: var(--bg); font-weight: 600; }
code, .ids { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
             font-size: .82rem; overflow-wrap: anywhere; word-break: break-all; }
.ids code { display: inline-block; margin-right: .4rem; }
.code { color: var(--muted); font-size: .8rem; }
.flag { color: var(--flag); font-weight: 600; }
.sens { color: var(--flag); font-size: .8rem; }
.clause q { quotes: "\\201C" "\\201D"; }
.annex p { margin: .25rem 0 .75rem; }
footer { margin-top: 2rem; border-top: 1px solid var(--rule); padding-top: .75rem;
         color: var(--muted); font-size: .85rem; }
@media (max-width: 40rem) {
  dl.meta { grid-template-columns: 1fr; }
  dl.meta dd { margin-bottom: .4rem; }
  table, thead, tbody, tr, th, td { display: block; }
  thead { display: none; }
  tr { border-bottom: 1px solid var(--rule); padding: .4rem 0; }
  td { border: 0; padding: .1rem 0; }
  td::before { content: attr(data-h) ": "; color: var(--muted); }
}
@media print {
  @page { size: A4; margin: 16mm 14mm; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  th { background: none; }
  tr, .annex p { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _ids(ids: Iterable[str]) -> str:
    return '<span class="ids">' + "".join(f"<code>{_e(i)}</code>" for i in ids) + "</span>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """A table of already-escaped cells; ``data-h`` lets a narrow screen label each cell."""
    if not rows:
        return f"<p>{_e(empty)}</p>"
    head = "".join(f"<th scope=col>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td data-h="{_e(h)}">{c}</td>' for h, c in zip(headers, r, strict=True)) + "</tr>"
        for r in rows
    )  # fmt: skip
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cat(c: dict[str, Any], lang: Lang) -> str:
    sens = f' <span class="sens">({_e(t(lang, "sensitive"))})</span>' if c["sensitive"] else ""
    return f'{_e(c["label"])} <span class="code">{_e(c["code"])}</span>{sens}'


def _cats(cs: Sequence[dict[str, Any]], lang: Lang) -> str:
    return "<br>".join(_cat(c, lang) for c in cs)


def _basis(line: dict[str, Any], lang: Lang) -> str:
    parts = [
        f'<span class="clause">{_e(t(lang, "clause"))} {_e(b["clause"])}'
        + (f" <q>{_e(b['text'] if lang == 'id' else b['gloss'])}</q>" if b["text"] else "")
        + "</span>"
        for b in line["basis"]
    ]
    for c in line.get("consents", ()):
        parts.append(
            f"{_e(t(lang, 'consent_of'))}: {_e(c['label'])} — {_e(c['action_label'])} "
            f"{_e(when(c['at'], lang))} {_ids([c['event_id']])}"
        )
    if line["flagged"]:
        parts.append(f'<span class="flag">{_e(t(lang, "flagged", n=line["flagged"]))}</span>')
    return "<br>".join(parts)


def _period(first: datetime, last: datetime, lang: Lang) -> str:
    a, b = when(first, lang), when(last, lang)
    return _e(a) if a == b else f"{_e(a)} –<br>{_e(b)}"


def render_html(letter: dict[str, Any]) -> str:
    """The letter as one HTML document (UTF-8 text)."""
    lang: Lang = letter["lang"]
    out: list[str] = []
    add = out.append
    add(f'<!DOCTYPE html>\n<html lang="{_e(lang)}">\n<head>\n<meta charset="utf-8">')
    add('<meta name="viewport" content="width=device-width, initial-scale=1">')
    add(
        f"<title>{_e(t(lang, 'title'))} — {_e(letter['request_ref'] or letter['subject_id'])}</title>"
    )
    add(f"<style>{CSS}</style>\n</head>\n<body>\n<header>")
    add(f"<h1>{_e(t(lang, 'title'))}</h1><p class=sub>{_e(t(lang, 'subtitle'))}</p>")
    meta = [
        (t(lang, "subject"), f"<code>{_e(letter['subject_id'])}</code>"),
        (t(lang, "request"), _e(letter["request_ref"])),
        (t(lang, "generated"), _e(when(letter["generated_at"], lang))),
        (t(lang, "policy"), _e(f"{letter['policy']['title']} ({letter['policy']['name']} {', '.join(letter['policy']['versions'])})")),
    ]  # fmt: skip
    add('<dl class="meta">' + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in meta) + "</dl>")
    add("</header>\n<main>")
    add(f"<p>{_e(t(lang, 'intro'))}</p>")
    if letter["events"]:
        add(
            "<p>"
            + _e(
                t(
                    lang,
                    "summary",
                    events=letter["events"],
                    first=when(letter["first_at"], lang),
                    last=when(letter["last_at"], lang),
                )
            )
            + (
                " " + _e(t(lang, "closed", at=when(letter["account_closed_at"], lang)))
                if letter["account_closed_at"]
                else ""
            )
            + "</p>"
        )
    else:
        add(f"<p><strong>{_e(t(lang, 'nothing_held'))}</strong></p>")
    none = t(lang, "none")

    def h(*keys: str) -> list[str]:
        return [t(lang, k) for k in keys]

    add(f"<section><h2>{_e(t(lang, 'held'))}</h2><p>{_e(t(lang, 'held_intro'))}</p>")
    add(
        _table(
            h("category", "source", "times", "period", "basis", "events"),
            [
                [
                    _cat(r["category"], lang),
                    _e(r["source"]["label"])
                    + (
                        f" {_e(t(lang, 'from_partner'))} {_e(r['source']['partner'])}"
                        if r["source"]["partner"]
                        else ""
                    ),
                    _e(r["times"]),
                    _period(r["first_at"], r["last_at"], lang),
                    _basis(r, lang),
                    _ids(r["event_ids"]),
                ]
                for r in letter["held"]
            ],
            none,
        )
    )
    add("</section>")

    add(f"<section><h2>{_e(t(lang, 'purposes'))}</h2>")
    add(
        _table(
            h("purpose", "category", "times", "period", "basis", "events"),
            [
                [
                    f'{_e(r["purpose"]["label"])} <span class="code">{_e(r["purpose"]["code"])}</span>',
                    _cats(r["categories"], lang),
                    _e(r["times"]),
                    _period(r["first_at"], r["last_at"], lang),
                    _basis(r, lang),
                    _ids(r["event_ids"]),
                ]
                for r in letter["purposes"]
            ],
            none,
        )
    )
    add("</section>")

    add(f"<section><h2>{_e(t(lang, 'disclosed'))}</h2>")
    add(
        _table(
            h("recipient", "purpose", "category", "times", "basis", "events"),
            [
                [
                    f"<code>{_e(r['recipient']['id'])}</code><br>{_e(r['recipient']['label'])}",
                    f'{_e(r["purpose"]["label"])} <span class="code">{_e(r["purpose"]["code"])}</span>',
                    _cats(r["categories"], lang),
                    _e(r["times"]) + "<br>" + _period(r["first_at"], r["last_at"], lang),
                    _basis(r, lang),
                    _ids(r["event_ids"]),
                ]
                for r in letter["disclosures"]
            ],
            none,
        )
    )
    add("</section>")

    add(f"<section><h2>{_e(t(lang, 'consents'))}</h2>")
    add(
        _table(
            h("when", "scope", "action", "events"),
            [
                [
                    _e(when(r["at"], lang)),
                    _e(r["label"]) + (f' <span class="code">{_e(r["scope"])}</span>' if r["scope"] else ""),
                    _e(r["action_label"]),
                    _ids(r["event_ids"]),
                ]
                for r in letter["consents"]
            ],
            none,
        )
    )  # fmt: skip
    add("</section>")

    add(f"<section><h2>{_e(t(lang, 'deletions'))}</h2>")
    add(
        _table(
            h("category", "when", "request", "events"),
            [
                [
                    _cat(r["category"], lang),
                    _e(when(r["deleted_at"], lang)),
                    _e(", ".join(r["request_refs"])),
                    _ids(r["event_ids"]),
                ]
                for r in letter["deletions"]
            ],
            none,
        )
    )
    add("</section>")

    add(f"<section><h2>{_e(t(lang, 'requests'))}</h2>")
    add(
        _table(
            h("when", "kind", "request", "status", "events"),
            [
                [
                    _e(when(r["at"], lang)),
                    _e(r["request_label"]),
                    _e(r["request_ref"]),
                    _e(r["status_label"]),
                    _ids(r["event_ids"]),
                ]
                for r in letter["requests"]
            ],
            none,
        )
    )
    add("</section>")

    add(f"<section><h2>{_e(t(lang, 'trail'))}</h2><p>{_e(t(lang, 'trail_intro'))}</p>")
    add(
        _table(
            h("when", "events", "kind", "what", "status"),
            [
                [
                    _e(when(r["at"], lang)),
                    _ids([r["event_id"]]),
                    _e(r["kind_label"]),
                    _e(r["what"]),
                    (
                        f'<span class="flag">{_e(r["decision_label"])}: {_e("; ".join(r["reasons"]))}</span>'
                        if r["decision"] == "violation"
                        else _e(r["decision_label"])
                        + (f" ({_e(t(lang, 'clause'))} {_e(r['basis'])})" if r["basis"] else "")
                    ),
                ]
                for r in letter["trail"]
            ],
            none,
        )
    )  # fmt: skip
    add("</section>")

    if letter["clauses"]:
        add(f'<section class="annex"><h2>{_e(t(lang, "clauses"))}</h2>')
        for c in letter["clauses"]:
            first, second = (c["text"], c["gloss"]) if lang == "id" else (c["gloss"], c["text"])
            add(
                f"<p><strong>{_e(t(lang, 'clause'))} {_e(c['clause'])}</strong> "
                f'<span class="code">({_e(letter["policy"]["name"])} {_e(c["policy_version"])})</span><br>'
                f"{_e(first)}<br><span class=code>{_e(t(lang, 'original' if lang == 'en' else 'gloss'))}: "
                f"{_e(second)}</span></p>"
            )  # fmt: skip
        add("</section>")
    add(f"</main>\n<footer>{_e(t(lang, 'footer'))}</footer>\n</body>\n</html>\n")
    return "\n".join(out)
