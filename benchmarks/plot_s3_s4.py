#!/usr/bin/env python3
#
# benchmarks/plot_s3_s4.py
# ~~~~~~~~~~~~~~~~~~~~~~~~
# Draws s3_s4.svg from the CSV that `pidfd_bench all --csv FILE` writes:
# left, S3 total time against N per variant (median over rounds); right,
# the S4 latency distribution per variant (complementary CDF). Plain SVG, so
# that no plotting package is needed.
#
# usage: plot_s3_s4.py DATA.csv OUT.svg

import csv
import math
import statistics
import sys
from collections import defaultdict

# Report labels, in all_variants() order (benchmarks/spawners.cpp).
LABELS = {
    "asio_cb": "pidfd-asio, callback",
    "asio_coro": "pidfd-asio, co_await",
    "asio_sync": "pidfd-asio, wait()",
    "raw_vfork": "floor: clone(PIDFD|VM|VFORK)+epoll",
    "raw_vfork_files": "floor + CLONE_FILES, close_range",
    "posix_spawn": "posix_spawn+waitpid",
    "bp2_default": "Boost.Process v2, default",
    "bp2_vfork": "Boost.Process v2, vfork",
    "fork_exec": "fork+execve+waitpid",
    "thread_waitpid": "posix_spawn+thread/child",
    # S3 only: a process with PIDFD_ASIO_FORCE_FALLBACK=1.
    "asio_cb_fallback": "pidfd-asio, callback, wait4 fallback",
}
COLORS = ["#d62728", "#ff7f0e", "#e377c2", "#000000", "#7f7f7f",
          "#1f77b4", "#2ca02c", "#98df8a", "#9467bd", "#8c564b",
          "#d62728"]
# The floors and our fallback dashed, ours thick.
DASHED = {"raw_vfork", "raw_vfork_files", "asio_cb_fallback"}
THICK = {"asio_cb", "asio_coro", "asio_sync", "asio_cb_fallback"}

W, H = 1100, 520
PANEL_W, PANEL_H = 430, 340
LEFT_X, RIGHT_X, TOP_Y = 80, 620, 50


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def log_ticks(lo, hi):
    # 1-2-5 per decade; finer when the range spans less than a decade.
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7),
                      (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)):
        ticks = []
        e = math.floor(math.log10(lo))
        while 10 ** e <= hi * 1.0001:
            for m in mantissas:
                v = round(m * 10 ** e, 12)
                if lo * 0.999 <= v <= hi * 1.001:
                    ticks.append(v)
            e += 1
        if len(ticks) >= 4:
            break
    return ticks


def fmt(v):
    if v >= 1000:
        return "%gk" % (v / 1000)
    return "%g" % v


class Panel:
    def __init__(self, out, x0, title, xlabel, ylabel, xr, yr, xlog, ylog):
        self.out, self.x0 = out, x0
        self.xr, self.yr, self.xlog, self.ylog = xr, yr, xlog, ylog
        out.append('<text x="%d" y="%d" font-size="15" font-weight="bold">'
                   '%s</text>' % (x0, TOP_Y - 20, esc(title)))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" '
                   'stroke="#444"/>' % (x0, TOP_Y, PANEL_W, PANEL_H))
        out.append('<text x="%d" y="%d" font-size="12" text-anchor="middle">'
                   '%s</text>' % (x0 + PANEL_W / 2, TOP_Y + PANEL_H + 36,
                                  esc(xlabel)))
        out.append('<text font-size="12" text-anchor="middle" '
                   'transform="translate(%d,%d) rotate(-90)">%s</text>'
                   % (x0 - 55, TOP_Y + PANEL_H / 2, esc(ylabel)))

    def _t(self, v, r, log):
        lo, hi = r
        if log:
            v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
        return (v - lo) / (hi - lo) if hi > lo else 0.5

    def px(self, x):
        return self.x0 + PANEL_W * self._t(x, self.xr, self.xlog)

    def py(self, y):
        return TOP_Y + PANEL_H * (1 - self._t(y, self.yr, self.ylog))

    def axes(self, xticks, yticks, yfmt=fmt, xfmt=fmt):
        for t in xticks:
            x = self.px(t)
            self.out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" '
                            'stroke="#ddd"/>' % (x, TOP_Y, x,
                                                 TOP_Y + PANEL_H))
            self.out.append('<text x="%.1f" y="%d" font-size="11" '
                            'text-anchor="middle">%s</text>'
                            % (x, TOP_Y + PANEL_H + 16, xfmt(t)))
        for t in yticks:
            y = self.py(t)
            self.out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" '
                            'stroke="#ddd"/>' % (self.x0, y,
                                                 self.x0 + PANEL_W, y))
            self.out.append('<text x="%d" y="%.1f" font-size="11" '
                            'text-anchor="end">%s</text>'
                            % (self.x0 - 5, y + 4, yfmt(t)))

    def line(self, pts, color, variant, markers=False):
        if not pts:
            return
        d = " ".join("%.1f,%.1f" % (self.px(x), self.py(y)) for x, y in pts)
        style = ' stroke-dasharray="6,3"' if variant in DASHED else ""
        width = 2.6 if variant in THICK else 1.4
        self.out.append('<polyline points="%s" fill="none" stroke="%s" '
                        'stroke-width="%.1f"%s/>' % (d, color, width, style))
        if markers:
            for x, y in pts:
                self.out.append('<circle cx="%.1f" cy="%.1f" r="3.5" '
                                'fill="%s"/>' % (self.px(x), self.py(y),
                                                 color))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_s3_s4.py DATA.csv OUT.svg")
    s3 = defaultdict(lambda: defaultdict(list))  # variant -> N -> [ms]
    s4 = defaultdict(list)                       # variant -> [us]
    order = []
    with open(sys.argv[1], newline="") as f:
        for row in csv.DictReader(f):
            v = row["variant"]
            if v not in order:
                order.append(v)
            if row["scenario"] == "s3" and row["metric"] == "total_ms":
                n = int(row["condition"].split("=")[1])
                s3[v][n].append(float(row["value"]))
            elif row["scenario"] == "s4" and row["metric"] == "latency_us":
                s4[v].append(float(row["value"]))
    color = {v: COLORS[i % len(COLORS)] for i, v in
             enumerate(k for k in LABELS if k in order)}

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>']

    # S3: total time against N.
    ns = sorted({n for v in s3 for n in s3[v]})
    totals = [statistics.median(x) for v in s3 for x in s3[v].values()]
    if ns and totals:
        lo, hi = min(totals) / 1.3, max(totals) * 1.3
        xr = (ns[0] / 1.5, ns[-1] * 1.5) if len(ns) > 1 else \
            (ns[0] / 2, ns[0] * 2)
        # The sizes run, in full: N = 1,000 / 5,000 / 10,000.
        sizes = " / ".join("{:,}".format(n) for n in ns)
        p = Panel(out, LEFT_X, "S3: N = %s children of sleep 1" % sizes,
                  "N (children at once, log scale)",
                  "total wall time, ms (median, log scale)", xr, (lo, hi),
                  True, True)
        p.axes(ns, log_ticks(lo, hi), xfmt="{:,}".format)
        for v in order:
            if v in s3:
                pts = [(n, statistics.median(s3[v][n]))
                       for n in ns if n in s3[v]]
                p.line(pts, color.get(v, "#999"), v, markers=True)

    # S4: the share of children slower than x (log-log), so that the median
    # (0.5), p90 (0.1) and p99 (0.01) all show.
    all_lat = [x for v in s4 for x in s4[v]]
    if all_lat:
        lo = max(min(all_lat), 1.0) / 1.2
        hi = max(all_lat) * 1.2
        ymin = 1 / max(len(s4[v]) for v in s4)
        p = Panel(out, RIGHT_X, "S4: exit-notification latency",
                  "latency x, us (log scale)",
                  "share of children with latency >= x (log scale)",
                  (lo, hi), (ymin, 1), True, True)
        yt = [t for t in (1, 0.5, 0.1, 0.01, 0.001, 0.0001) if t >= ymin]
        p.axes(log_ticks(lo, hi), yt, yfmt=lambda t: "%g" % t)
        for v in order:
            if v not in s4:
                continue
            xs = sorted(s4[v])
            n = len(xs)
            # Every point of the tail, a thinned body.
            idx = sorted(set(range(0, n, max(1, n // 300)))
                         | set(range(max(0, n - 100), n)))
            pts = [(xs[i], (n - i) / n) for i in idx]
            p.line(pts, color.get(v, "#999"), v)

    # One legend for both panels.
    y = TOP_Y + PANEL_H + 62
    x = LEFT_X
    for i, v in enumerate(k for k in LABELS if k in order):
        cx = x + (i % 4) * 250
        cy = y + (i // 4) * 20
        style = ' stroke-dasharray="6,3"' if v in DASHED else ""
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
                   'stroke-width="%.1f"%s/>' % (cx, cy, cx + 24, cy,
                                               color[v], 2.6 if v in THICK
                                               else 1.4, style))
        out.append('<text x="%d" y="%d" font-size="12">%s</text>'
                   % (cx + 30, cy + 4, esc(LABELS[v])))
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
