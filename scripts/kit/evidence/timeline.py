"""timeline.html: per control, one strip per host over the period's days, green where every run passed,
red where one failed, grey where no result arrived; each drift is listed with the time it took to fix.
Plain HTML with inline SVG: no script, no external asset (it opens offline, in any browser)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape

from .daily import DailyResult
from .period import ControlStats, Period

PASS_COLOUR, FAIL_COLOUR, NONE_COLOUR = "#2e7d32", "#c62828", "#cfd8dc"
LABEL_WIDTH, ROW_HEIGHT, PLOT_WIDTH = 150, 22, 760
STYLE = """
body { font-family: sans-serif; margin: 24px; color: #212121; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin: 26px 0 4px; }
.banner { background: #fff3e0; border: 2px solid #e65100; padding: 8px 12px; font-weight: bold; }
.meta, .drifts { font-size: 13px; color: #424242; margin: 2px 0; }
.fail { color: #c62828; font-weight: bold; } .ok { color: #2e7d32; font-weight: bold; }
table.overview { border-collapse: collapse; font-size: 13px; margin: 8px 0 12px; }
table.overview td, table.overview th { border: 1px solid #cfd8dc; padding: 3px 10px; text-align: left; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 14px; vertical-align: -1px; }
"""


def _day_states(results: Sequence[DailyResult]) -> dict[date, str]:
    states: dict[date, str] = {}
    for result in results:
        day = result.time.date()
        states[day] = "fail" if result.status == "fail" or states.get(day) == "fail" else "pass"
    return states


def control_svg(stats: ControlStats, results: Sequence[DailyResult], period: Period) -> str:
    cell = PLOT_WIDTH / period.days
    height = ROW_HEIGHT * len(stats.hosts) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH + PLOT_WIDTH + 10}" height="{height}" '
        f'role="img" aria-label="{escape(stats.control)}: pass and fail per day and host">'
    ]
    for row, host in enumerate(stats.hosts):
        y = row * ROW_HEIGHT
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(host)}</text>')
        states = _day_states([r for r in results if r.host == host])
        for index in range(period.days):
            day = period.since + timedelta(days=index)
            state = states.get(day)
            colour = {"pass": PASS_COLOUR, "fail": FAIL_COLOUR}.get(state or "", NONE_COLOUR)
            label = f"{host} {day.isoformat()}: {state or 'no result'}"
            parts.append(
                f'<rect x="{LABEL_WIDTH + index * cell:.2f}" y="{y + 3}" width="{max(cell - 0.5, 0.5):.2f}" '
                f'height="{ROW_HEIGHT - 6}" fill="{colour}"><title>{escape(label)}</title></rect>'
            )
    axis_y = ROW_HEIGHT * len(stats.hosts) + 16
    # A date under the first day of each week (at most ~10 labels), so a drift can be placed by eye.
    step = 7 * max(1, round(period.days / 70))
    for index in range(0, period.days, step):
        day = period.since + timedelta(days=index)
        parts.append(
            f'<text x="{LABEL_WIDTH + index * cell:.2f}" y="{axis_y}" font-size="11">'
            f"{day.strftime('%m-%d')}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _drift_lines(stats: ControlStats) -> list[str]:
    lines = []
    for drift in stats.drifts:
        failed = drift.failed_at.strftime("%Y-%m-%d %H:%M UTC")
        if drift.fixed_at is None:
            lines.append(
                f'<li class="fail">{escape(drift.host)}: failing since {failed}, not fixed by the end</li>'
            )
        else:
            fixed = drift.fixed_at.strftime("%Y-%m-%d %H:%M UTC")
            lines.append(
                f"<li>{escape(drift.host)}: drifted {failed}, passed again {fixed} "
                f"(<b>{drift.hours_to_fix()} h</b> to fix)</li>"
            )
    return lines


def overview(stats: Sequence[ControlStats], criteria: Mapping[str, Sequence[str]]) -> str:
    """One line per control: at a glance, which drifted, how often, and how long the fixes took."""
    rows = []
    for item in sorted(
        stats, key=lambda s: (-sum(d.fixed_at is None for d in s.drifts), -len(s.drifts), s.control)
    ):
        fixes = [h for d in item.drifts if (h := d.hours_to_fix()) is not None]
        unfixed = sum(d.fixed_at is None for d in item.drifts)
        end = '<td class="fail">FAILING</td>' if unfixed else '<td class="ok">passing</td>'
        rows.append(
            f"<tr><td>{escape(item.control)}</td>"
            f"<td>{escape(', '.join(criteria.get(item.control, [])) or '-')}</td>"
            f"{end}<td>{len(item.drifts)}</td><td>{max(fixes) if fixes else '-'}</td>"
            f"<td>{item.failures}/{item.runs}</td><td>{item.missed}</td></tr>"
        )
    return (
        '<table class="overview"><tr><th>control</th><th>criteria</th><th>at the end</th><th>drifts</th>'
        "<th>longest fix (h)</th><th>failed runs</th><th>host-days without result</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def render(
    title: str,
    banner: str | None,
    period: Period,
    stats: Sequence[ControlStats],
    results: Sequence[DailyResult],
    criteria: Mapping[str, Sequence[str]],
) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if banner:
        out.append(f'<p class="banner">{escape(banner)}</p>')
    out.append(
        f'<p class="meta legend">Period {period.label()} ({period.days} days), one strip per host:'
        f'<span style="background:{PASS_COLOUR}"></span>every run passed'
        f'<span style="background:{FAIL_COLOUR}"></span>a run failed'
        f'<span style="background:{NONE_COLOUR}"></span>no result</p>'
    )
    if not stats:
        out.append('<p class="fail">No daily check result arrived in this period: nothing to show.</p>')
    else:
        out.append(overview(stats, criteria))
    for item in stats:
        fixed = [hours for d in item.drifts if (hours := d.hours_to_fix()) is not None]
        open_drifts = sum(d.fixed_at is None for d in item.drifts)
        state = (
            '<span class="fail">FAILING at the end of the period</span>'
            if open_drifts
            else '<span class="ok">passing at the end of the period</span>'
        )
        out += [
            f"<h2>{escape(item.control)} — {state}</h2>",
            f'<p class="meta">Criteria: {escape(", ".join(criteria.get(item.control, [])) or "not mapped")}; '
            f"{item.runs} runs of {item.population} expected, {item.failures} failed, "
            f"{item.missed} host-days without a result; {len(item.drifts)} drift(s)"
            + (f", longest fix {max(fixed)} h" if fixed else "")
            + "</p>",
            control_svg(item, [r for r in results if r.control == item.control], period),
        ]
        lines = _drift_lines(item)
        if lines:
            out.append('<ul class="drifts">' + "".join(lines) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
