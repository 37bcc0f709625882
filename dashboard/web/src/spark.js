// Small charts with uPlot: a sparkline for the side panel and a line chart for the KPI trends.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/** sparkline draws ys over xs (Unix seconds) into box, without axes. */
export function sparkline(box, xs, ys) {
  if (!xs.length) {
    box.append(document.createTextNode(" —"));
    return null;
  }
  return new uPlot(
    {
      width: 260,
      height: 48,
      legend: { show: false },
      cursor: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: true } },
      series: [{}, { stroke: "#38bdf8", width: 1.5, fill: "rgba(56,189,248,0.15)" }],
    },
    [xs, ys],
    box,
  );
}

/** lines draws one or more series over xs into box with axes and a legend. */
export function lines(box, xs, series, { width, height, xLabel = "" }) {
  return new uPlot(
    {
      width,
      height,
      scales: { x: { time: true } },
      axes: [
        { stroke: "#cbd5e1", grid: { stroke: "#334155" } },
        { stroke: "#cbd5e1", grid: { stroke: "#334155" } },
      ],
      series: [{ label: xLabel }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: true } }))],
    },
    [xs, ...series.map((s) => s.values)],
    box,
  );
}
