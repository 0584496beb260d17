"""The compliance evidence as one self-contained HTML page (no script, no outside file: it opens offline and can be
archived or attached as it is); failed controls first, each with what was found."""

from __future__ import annotations

import html

from appliance.monitoring.compliance import FAIL, PASS, WARN, Evidence

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1d2733; margin: 32px auto; max-width: 1060px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } .meta { color: #5f6b7a; margin: 0 0 18px; }
.summary span { display: inline-block; margin-right: 14px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: 16px; }
th, td { text-align: left; vertical-align: top; padding: 9px 10px; border-bottom: 1px solid #dde2e7; }
th { background: #f4f6f8; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: #5f6b7a; }
.status { font-weight: 700; white-space: nowrap; } .pass { color: #1e6b34; } .warn { color: #8a5a00; }
.fail { color: #b3261e; } tr.fail td { background: #fdecea; } ul { margin: 0; padding-left: 18px; }
code { font-size: 12px; }
"""
_WORDS = {PASS: "passed", WARN: "warning", FAIL: "FAILED"}


def render(evidence: Evidence) -> str:
    controls = sorted(evidence.controls, key=lambda c: (c.status != FAIL, c.status != WARN))
    counts = {s: sum(1 for c in controls if c.status == s) for s in (PASS, WARN, FAIL)}
    rows = "".join(
        f"<tr class='{c.status}'><td><b>{html.escape(c.promise)}</b></td><td>{html.escape(c.control)}</td>"
        f"<td class='status {c.status}'>{_WORDS[c.status]}</td>"
        f"<td><ul>{''.join(f'<li>{html.escape(line)}</li>' for line in c.evidence)}</ul></td></tr>"
        for c in controls)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ChatSpark compliance evidence "
            f"{html.escape(evidence.generated_at[:10])}</title><style>{_STYLE}</style></head><body>"
            f"<h1>ChatSpark Appliance: compliance evidence</h1>"
            f"<p class='meta'>Generated {html.escape(evidence.generated_at)} by appliance "
            f"<code>{html.escape(evidence.appliance_id)}</code>, version {html.escape(evidence.version)}. Every "
            "figure below was measured when the report was made.</p>"
            f"<p class='summary'><span class='fail'>{counts[FAIL]} failed</span><span class='warn'>{counts[WARN]} "
            f"warning{'s' if counts[WARN] != 1 else ''}</span><span class='pass'>{counts[PASS]} passed</span></p>"
            "<table><thead><tr><th>Promise</th><th>Control</th><th>Status</th><th>Evidence, now</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></body></html>\n")
