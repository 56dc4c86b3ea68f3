"""`make verify ENV=...`: is every control in place right now? Each check runs against the deployed
hosts, keeps its raw output, and maps to the SOC2 Trust Services Criteria it supports; the run writes
an evidence folder (evidence/<ENV>/<UTC timestamp>/: report.md, report.json, attachments/) with every
known secret value scrubbed, and exits non-zero when any check did not pass.

Layout: `result` (what a check returns), `thresholds` (the one place for limits), `hosts` (running
commands on the hosts: podman exec locally, Ansible for AWS), one module per check family (`tls`,
`headers`, `host`, `app`, `deps`, `suite`, `aws_live`), `registry` (the checks and their criteria),
`secrets` (known secret values and the scrubber), `report` (the evidence writer) and `runner`.
"""
