"""The compliance workspace: one service behind the API, the command line and the web page.

- :mod:`~jejak.lineage.workspace.auth`: tokens and roles (officer, analyst, auditor);
- :mod:`~jejak.lineage.workspace.operations`: every operation, declared once (path, method,
  parameters, roles, whether it reads a subject), and the service that runs them;
- :mod:`~jejak.lineage.workspace.requests`: data-subject request cases on the policy's clocks;
- :mod:`~jejak.lineage.workspace.client`: the same operations over HTTP, derived from the
  declarations (``jejak … --api URL``).
"""
