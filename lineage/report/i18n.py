"""The words of the access report that are not the policy's: headings, sentences, codes.

The policy file names its own codes (categories, purposes, recipient kinds,
sources, consent scopes: ``labels:`` in the YAML, read through
:func:`label`); everything else a data subject reads is here, once per
language. ``id`` is Bahasa Indonesia (the language of the policy and of UU
PDP), ``en`` English. A key missing in one language is a bug: the unit test
compares the two tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from jejak.lineage.policy.model import Label, PolicyDocument
from jejak.lineage.policy.taxonomy import lineage

Lang = Literal["id", "en"]
LANGS: tuple[Lang, ...] = ("id", "en")

TEXT: dict[Lang, dict[str, str]] = {
    "id": {
        "title": "Laporan Akses Data Pribadi",
        "subtitle": "Jawaban atas permintaan akses Anda menurut UU No. 27 Tahun 2022 "
        "tentang Pelindungan Data Pribadi (UU PDP) Pasal 32",
        "to": "Kepada",
        "subject": "Subjek data (pengenal pseudonim)",
        "request": "Nomor permintaan",
        "generated": "Dibuat pada",
        "policy": "Kebijakan privasi",
        "intro": "Anda meminta salinan data pribadi Anda yang kami simpan dan penjelasan tentang "
        "bagaimana data itu diproses. Laporan ini menjawab permintaan tersebut: data apa yang "
        "kami simpan, dari mana asalnya, untuk apa digunakan, kepada siapa diungkapkan, atas "
        "dasar klausul kebijakan atau persetujuan yang mana, riwayat persetujuan Anda, dan "
        "penghapusan. Setiap baris menyebut nomor peristiwa (event id) yang menjadi dasarnya; "
        "daftar lengkapnya ada di bagian Rekam Jejak Pemrosesan.",
        "nothing_held": "Kami tidak menyimpan catatan pemrosesan data pribadi apa pun dengan "
        "pengenal ini.",
        "summary": "{events} peristiwa pemrosesan tercatat, dari {first} sampai {last}.",
        "closed": "Akun Anda ditutup pada {at}.",
        "held": "1. Data yang kami simpan",
        "held_intro": "Kategori data pribadi yang kami kumpulkan tentang Anda, dan asalnya.",
        "purposes": "2. Untuk apa data digunakan",
        "disclosed": "3. Kepada siapa data diungkapkan",
        "consents": "4. Riwayat persetujuan",
        "deletions": "5. Penghapusan",
        "requests": "6. Permintaan Anda",
        "trail": "7. Rekam jejak pemrosesan",
        "trail_intro": "Setiap peristiwa pemrosesan data Anda yang tercatat, urut waktu.",
        "clauses": "Lampiran: klausul kebijakan yang dirujuk",
        "none": "Tidak ada.",
        "category": "Data",
        "source": "Asal",
        "purpose": "Tujuan",
        "recipient": "Penerima",
        "times": "Berapa kali",
        "period": "Kapan",
        "basis": "Dasar",
        "events": "Peristiwa",
        "when": "Waktu",
        "scope": "Persetujuan",
        "action": "Tindakan",
        "what": "Apa yang terjadi",
        "kind": "Jenis",
        "status": "Status",
        "sensitive": "data pribadi yang bersifat spesifik",
        "clause": "klausul",
        "consent_of": "persetujuan Anda",
        "flagged": "{n}× tanpa dasar yang sah menurut kebijakan (sedang ditinjau petugas "
        "pelindungan data)",
        "from_partner": "melalui",
        "footer": "Laporan ini dibuat oleh jejak, sistem rekam jejak pemrosesan data pribadi, "
        "dari catatan yang tidak dapat diubah. Pembuatannya sendiri tercatat dalam log akses. "
        "Anda berhak meminta perbaikan, penghapusan, atau penarikan persetujuan (UU PDP Pasal "
        "6-9).",
        "original": "teks asli",
        "gloss": "ringkasan",
    },
    "en": {
        "title": "Personal Data Access Report",
        "subtitle": "Our answer to your access request under Indonesia's Law No. 27 of 2022 on "
        "Personal Data Protection (UU PDP), Article 32",
        "to": "To",
        "subject": "Data subject (pseudonymous id)",
        "request": "Request reference",
        "generated": "Produced on",
        "policy": "Privacy policy",
        "intro": "You asked for a copy of the personal data we hold about you and how it is "
        "processed. This report answers that request: which data we hold, where it came from, "
        "what it was used for, who received it, on which clause of our policy or which consent, "
        "your consent history, and deletions. Every line names the event ids it rests on; the "
        "full list is in the Processing Trail.",
        "nothing_held": "We hold no record of processing personal data under this id.",
        "summary": "{events} processing events recorded, from {first} to {last}.",
        "closed": "Your account was closed on {at}.",
        "held": "1. The data we hold",
        "held_intro": "The kinds of personal data we collected about you, and where from.",
        "purposes": "2. What it was used for",
        "disclosed": "3. Who received it",
        "consents": "4. Your consent history",
        "deletions": "5. Deletions",
        "requests": "6. Your requests",
        "trail": "7. Processing trail",
        "trail_intro": "Every recorded event of processing your data, in time order.",
        "clauses": "Annex: the policy clauses cited",
        "none": "None.",
        "category": "Data",
        "source": "From",
        "purpose": "Purpose",
        "recipient": "Recipient",
        "times": "Times",
        "period": "When",
        "basis": "Basis",
        "events": "Events",
        "when": "When",
        "scope": "Consent",
        "action": "Action",
        "what": "What happened",
        "kind": "Kind",
        "status": "Status",
        "sensitive": "specific (sensitive) personal data",
        "clause": "clause",
        "consent_of": "your consent",
        "flagged": "{n}× without a valid basis under the policy (under review by the data "
        "protection officer)",
        "from_partner": "through",
        "footer": "This report was produced by jejak, the personal-data processing trail, from "
        "records that cannot be changed. Producing it was itself recorded in the access log. "
        "You may ask for correction, deletion, or to withdraw your consent (UU PDP Articles "
        "6-9).",
        "original": "original text",
        "gloss": "summary",
    },
}

KINDS: dict[Lang, dict[str, str]] = {
    "id": {
        "collection": "Pengumpulan",
        "use": "Penggunaan",
        "disclosure": "Pengungkapan",
        "consent": "Persetujuan",
        "policy_accepted": "Persetujuan kebijakan",
        "subject_request": "Permintaan subjek data",
        "deletion": "Penghapusan",
        "account_closed": "Penutupan akun",
    },
    "en": {
        "collection": "Collection",
        "use": "Use",
        "disclosure": "Disclosure",
        "consent": "Consent",
        "policy_accepted": "Policy accepted",
        "subject_request": "Data-subject request",
        "deletion": "Deletion",
        "account_closed": "Account closed",
    },
}

ACTIONS: dict[Lang, dict[str, str]] = {
    "id": {"granted": "diberikan", "withdrawn": "ditarik", "accepted": "disetujui"},
    "en": {"granted": "granted", "withdrawn": "withdrawn", "accepted": "accepted"},
}

REQUESTS: dict[Lang, dict[str, str]] = {
    "id": {
        "access": "akses",
        "rectification": "perbaikan",
        "deletion": "penghapusan",
        "consent_withdrawal": "penarikan persetujuan",
        "objection": "keberatan",
        "suspension": "penundaan atau pembatasan",
        "received": "diterima",
        "fulfilled": "dipenuhi",
        "rejected": "ditolak",
    },
    "en": {
        "access": "access",
        "rectification": "rectification",
        "deletion": "deletion",
        "consent_withdrawal": "consent withdrawal",
        "objection": "objection",
        "suspension": "suspension or restriction",
        "received": "received",
        "fulfilled": "fulfilled",
        "rejected": "rejected",
    },
}

DECISIONS: dict[Lang, dict[str, str]] = {
    "id": {"allowed": "sesuai kebijakan", "violation": "tidak sesuai kebijakan", "recorded": "dicatat"},
    "en": {"allowed": "allowed by the policy", "violation": "not allowed by the policy", "recorded": "recorded"},
}  # fmt: skip

REASONS: dict[Lang, dict[str, str]] = {
    "id": {
        "consent_withdrawn": "setelah Anda menarik seluruh persetujuan",
        "account_closed": "setelah akun Anda ditutup",
        "undeclared_purpose": "tujuan yang tidak tercantum dalam kebijakan",
        "undeclared_category": "data yang tidak tercantum dalam kebijakan",
        "undeclared_source": "asal data yang tidak tercantum dalam kebijakan",
        "policy_not_in_force": "sebelum kebijakan berlaku",
        "permission_missing": "tanpa izin perangkat Anda",
        "opted_out": "padahal Anda telah menolak",
        "consent_missing": "tanpa persetujuan Anda",
        "sensitive_category_not_allowed": "data spesifik kepada penerima yang tidak diizinkan",
        "legal_request_missing": "tanpa permintaan resmi dari aparat",
        "disclosure_without_consent": "diungkapkan tanpa persetujuan Anda",
    },
    "en": {
        "consent_withdrawn": "after you withdrew all consent",
        "account_closed": "after your account was closed",
        "undeclared_purpose": "a purpose the policy does not list",
        "undeclared_category": "data the policy does not list",
        "undeclared_source": "a source the policy does not list",
        "policy_not_in_force": "before the policy was in force",
        "permission_missing": "without your device permission",
        "opted_out": "although you had opted out",
        "consent_missing": "without your consent",
        "sensitive_category_not_allowed": "specific data to a recipient not allowed to get it",
        "legal_request_missing": "without a lawful request from the authorities",
        "disclosure_without_consent": "disclosed without your consent",
    },
}

_MONTHS: dict[Lang, tuple[str, ...]] = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
           "September", "Oktober", "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip


def t(lang: Lang, key: str, **values: object) -> str:
    text = TEXT[lang][key]
    return text.format(**values) if values else text


def word(table: dict[Lang, dict[str, str]], lang: Lang, code: str) -> str:
    """A code in words, or the code itself when the table does not know it."""
    return table[lang].get(code, code)


def when(value: datetime | None, lang: Lang, *, time: bool = True) -> str:
    """``1 Mei 2026 08.00 UTC`` / ``1 May 2026 08:00 UTC``: a date a reader does not misread."""
    if value is None:
        return ""
    day = f"{value.day} {_MONTHS[lang][value.month - 1]} {value.year}"
    if not time:
        return day
    sep = "." if lang == "id" else ":"
    return f"{day} {value.hour:02d}{sep}{value.minute:02d} UTC"


def label(doc: PolicyDocument, section: str, code: str, lang: Lang) -> str:
    """The policy's plain-language name of a code, or the code when the policy has none.

    A category falls back to its family's label (``payment.credit_card.visa``
    to ``payment.credit_card`` to ``payment``); a consent scope of a declared
    family (``recipient:*``) is the family's label followed by the rest
    (``Permission to share data with: bank-x``).
    """
    labels: dict[str, Label] = getattr(doc.labels, section)
    if section == "categories":
        for name in lineage(code):
            if name in labels:
                return getattr(labels[name], lang)  # type: ignore[no-any-return]
        return code
    if code in labels:
        return getattr(labels[code], lang)  # type: ignore[no-any-return]
    if section == "consent_scopes" and ":" in code:
        kind, rest = code.split(":", 1)
        family = labels.get(kind + ":*")
        if family is not None:
            return f"{getattr(family, lang)}: {rest}"
    return code
