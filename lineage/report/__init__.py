"""Reports people can send: the data-subject access report (UU PDP Pasal 32) as a letter.

:func:`build_letter` turns one subject's processing trail and the policy into
the report's data (also its ``--format json``); :func:`render_html` turns that
into a self-contained, print-ready HTML letter in Bahasa Indonesia or English.
The workspace operation ``subject_letter`` (``jejak report subject``,
``GET /api/subjects/{id}/report``) records the read in the access log first,
which is also what closes an open access request. See docs/reports.md.
"""

from jejak.lineage.report.html import render_html
from jejak.lineage.report.i18n import LANGS, Lang
from jejak.lineage.report.letter import build_letter

__all__ = ["LANGS", "Lang", "build_letter", "render_html"]
