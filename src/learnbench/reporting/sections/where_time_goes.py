"""Where the time goes: step times, top profiler operators, time by op class and a roofline
per device, from the records' ``profile`` (see :mod:`..profiles`). Absent without profiles."""

from __future__ import annotations

import pandas as pd

from learnbench.reporting import plots, profiles
from learnbench.reporting.sections.base import ReportContext, Section, table_section

CLASS_PLOT = "time_by_class.png"


def section(ctx: ReportContext) -> list[Section] | None:
    """The step-time and top-operator sections; writes ``time_by_class.png`` and
    ``roofline_<device>.png`` and removes those of an earlier build that it did not write."""
    prof = profiles.profiled(ctx.df)
    devices = profiles.roofline_devices(prof)
    images = _plots(ctx, prof, devices)
    mine = {name for name, _ in images}
    ctx.remove(*(p.name for p in [ctx.out_dir / CLASS_PLOT, *ctx.out_dir.glob("roofline_*.png")]
                 if p.name not in mine))
    if prof.empty:
        return None
    return [
        table_section("Where the time goes", profiles.STEP_NOTE,
                      lambda fmt: profiles.display_steps(prof, fmt), "steps",
                      images=images, bullets=profiles.roofline_text(devices)),
        table_section("Where the time goes: top operators",
                      profiles.TOP_OPS_NOTE.format(n=profiles.TOP_OPS),
                      lambda fmt: profiles.display_top_ops(prof, fmt), "top-ops",
                      links=profiles.trace_links(prof, ctx.out_dir)),
    ]


def _plots(
    ctx: ReportContext, prof: pd.DataFrame, devices: list[profiles.RooflineDevice]
) -> list[tuple[str, str]]:
    """Write the op-class bars and one roofline per device; their (file name, alt text)."""
    images = []
    if bars := profiles.class_times(prof):
        path = ctx.add(plots.plot_time_by_class(bars, ctx.out_dir / CLASS_PLOT))
        images.append((path.name, "time per step by operator class"))
    used: set[str] = set()
    for dev in devices:
        name = plots.unique_name(plots.device_filename("roofline", dev.device), used)
        ctx.add(plots.plot_roofline(dev, ctx.out_dir / name))
        images.append((name, f"roofline of {dev.device}"))
    return images
