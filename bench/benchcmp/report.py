"""What bench/compare writes: medians of the repeated runs, the markdown
table (ratios against the first variant, normally hybrid), a bar chart as
SVG (drawn here, no plotting library) and the JSON of every raw run.

Pure functions of the list of runs; no I/O except write_* .
"""

import json
import math
from xml.sax.saxutils import escape

from .loadgen import SCENARIOS

# key -> (label, higher is better, ratio shown, formatter)
METRICS = [
    ("rps", "rps", True, True, lambda v: _int(v)),
    ("p99_ms", "p99 latency", False, True, lambda v: _ms(v)),
    ("socket_errors", "socket errors", False, False, lambda v: _int(v)),
    ("req_per_srv_cpu_s", "requests per server CPU second", True, True, lambda v: _int(v)),
    ("cs_per_req", "context switches per request", False, True, lambda v: "%.3f" % v),
]
CHART_METRICS = ["rps", "p99_ms", "req_per_srv_cpu_s", "cs_per_req"]
COLORS = ["#1f6fb4", "#e07b12", "#2b9a3e", "#c2362f", "#7d58b3", "#8a5a44"]


def _int(v):
    return "{:,}".format(int(round(v))).replace(",", " ")


def _ms(v):
    return ("%.3g ms" % v) if v < 1000 else "%s ms" % _int(v)


def median(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2.0


def summarize(runs, variants, scenarios):
    """{(variant, scenario): {metric: {"median", "min", "max", "n"}}}."""
    out = {}
    for v in variants:
        for s in scenarios:
            mine = [r for r in runs if r["variant"] == v and r["scenario"] == s]
            cell = {}
            for key, *_ in METRICS:
                vals = [r.get(key) for r in mine if r.get(key) is not None]
                cell[key] = {"median": median(vals), "n": len(vals),
                             "min": min(vals) if vals else None,
                             "max": max(vals) if vals else None}
            cell["non2xx"] = {"median": median([r.get("non2xx", 0) for r in mine])}
            out[(v, s)] = cell
    return out


def _cell(stat, fmt, with_range):
    if stat["median"] is None:
        return "n/a"
    text = fmt(stat["median"])
    if with_range and stat["n"] > 1 and stat["min"] != stat["max"]:
        text += " [%s..%s]" % (fmt(stat["min"]).replace(" ms", ""), fmt(stat["max"]))
    return text


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return ""
    return "%.2fx" % (a / b)


def table(summary, variants, scenarios):
    """Markdown table: one row per scenario and metric, one column per
    variant, then variants[0] / each other variant."""
    base, others = variants[0], variants[1:]
    head = ["scenario"] + variants + ["%s / %s" % (base, o) for o in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in scenarios:
        for key, label, _better, show_ratio, fmt in METRICS:
            row = ["%s: %s" % (SCENARIOS[s][0], label)]
            for v in variants:
                text = _cell(summary[(v, s)][key], fmt, key == "rps")
                non2xx = summary[(v, s)]["non2xx"]["median"]
                if key == "socket_errors" and non2xx:
                    text += " (+%s non-2xx)" % _int(non2xx)
                row.append(text)
            for o in others:
                a = summary[(base, s)][key]["median"]
                b = summary[(o, s)][key]["median"]
                row.append(_ratio(a, b) if show_ratio else "")
            lines.append("| " + " | ".join(row) + " |")
    if others:
        lines += ["", "Ratios are %s / the other server: above 1.00x is better for rps "
                  "and requests per server CPU second, below 1.00x is better for p99 "
                  "and context switches. rps: median [min..max]." % base]
    return "\n".join(lines) + "\n"


# ---- chart ------------------------------------------------------------------

def _nice_max(v):
    """A round axis maximum at or above v, in 4 round steps."""
    if not v or v <= 0:
        return 1.0
    raw = v / 4.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * mag >= raw:
            return 4 * m * mag
    return v


def _panel(x0, y0, w, h, key, summary, variants, scenarios):
    label = [m[1] for m in METRICS if m[0] == key][0]
    better = "higher" if [m[2] for m in METRICS if m[0] == key][0] else "lower"
    fmt = [m[4] for m in METRICS if m[0] == key][0]
    top = max([summary[(v, s)][key]["max"] or 0 for v in variants for s in scenarios]
              + [0])
    ymax = _nice_max(top)
    px, py, pw, ph = x0 + 60, y0 + 30, w - 75, h - 75
    out = ['<text x="%d" y="%d" class="t">%s (%s is better)</text>'
           % (x0 + 10, y0 + 18, escape(label), better)]
    for i in range(5):
        yv = ymax * i / 4
        yy = py + ph - ph * i / 4
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="g"/>' % (px, yy, px + pw, yy))
        out.append('<text x="%d" y="%.1f" class="a" text-anchor="end">%s</text>'
                   % (px - 4, yy + 4, escape(fmt(yv).replace(" ms", ""))))
    gw = pw / max(1, len(scenarios))
    bw = gw * 0.8 / max(1, len(variants))
    for si, s in enumerate(scenarios):
        gx = px + si * gw + gw * 0.1
        out.append('<text x="%.1f" y="%d" class="a" text-anchor="middle">%s</text>'
                   % (px + si * gw + gw / 2, py + ph + 16, escape(s)))
        for vi, v in enumerate(variants):
            st = summary[(v, s)][key]
            if st["median"] is None:
                continue
            bh = ph * st["median"] / ymax
            bx = gx + vi * bw
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">'
                       '<title>%s %s: %s</title></rect>'
                       % (bx, py + ph - bh, bw * 0.9, bh, COLORS[vi % len(COLORS)],
                          escape(v), escape(s), escape(fmt(st["median"]))))
            out.append('<text x="%.1f" y="%.1f" class="v" text-anchor="middle">%s</text>'
                       % (bx + bw * 0.45, py + ph - bh - 3,
                          escape(fmt(st["median"]).replace(" ms", ""))))
            if st["n"] > 1 and st["min"] != st["max"]:
                cx = bx + bw * 0.45
                y1, y2 = py + ph - ph * st["min"] / ymax, py + ph - ph * st["max"] / ymax
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="w"/>'
                           % (cx, y1, cx, y2))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" class="x"/>' % (px, py + ph, px + pw, py + ph))
    return out


def svg_chart(summary, variants, scenarios, subtitle=""):
    """A 2 x 2 grid of grouped bar charts (median; whisker = min..max)."""
    w, h = 480, 300
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d" font-family="sans-serif">' % (2 * w, 2 * h + 60, 2 * w, 2 * h + 60),
             '<style>.t{font-size:14px;font-weight:bold}.a{font-size:11px;fill:#333}.v{font-size:10px}'
             '.g{stroke:#ddd}.x{stroke:#333}.w{stroke:#000;stroke-width:1.5}</style>',
             '<rect width="100%" height="100%" fill="white"/>',
             '<text x="10" y="20" class="t">bench/compare: medians per scenario</text>',
             '<text x="10" y="38" class="a">%s</text>' % escape(subtitle)]
    for vi, v in enumerate(variants):
        x = 10 + vi * 140
        parts.append('<rect x="%d" y="46" width="12" height="12" fill="%s"/>'
                     % (x, COLORS[vi % len(COLORS)]))
        parts.append('<text x="%d" y="57" class="a">%s</text>' % (x + 16, escape(v)))
    for i, key in enumerate(CHART_METRICS):
        parts += _panel((i % 2) * w, 60 + (i // 2) * h, w, h, key, summary, variants, scenarios)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_json(path, meta, runs, summary, variants, scenarios):
    medians = {v: {s: {k: summary[(v, s)][k]["median"] for k, *_ in METRICS}
                   for s in scenarios} for v in variants}
    with open(path, "w") as f:
        json.dump({"meta": meta, "medians": medians, "runs": runs}, f, indent=1)
        f.write("\n")
