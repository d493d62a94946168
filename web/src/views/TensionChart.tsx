// The tension curve (uPlot: a small, fast canvas chart). The numbers are also in each chapter's
// heading, so the canvas is labelled for assistive technology rather than described point by point.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export default function TensionChart({ points }: { points: ReadonlyArray<readonly [number, number]> }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth || 320),
      height: 200,
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [{ label: "turn", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }, { label: "tension" }],
      series: [{}, { label: "tension", stroke: "#8a3b12", width: 2, fill: "rgba(138,59,18,0.08)" }],
      legend: { show: false },
    };
    plot.current = new uPlot(opts, [[], []], el);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([points.map((p) => p[0]), points.map((p) => p[1])]);
  }, [points]);

  const last = points.length ? points[points.length - 1][1].toFixed(2) : "none yet";
  return <div ref={box} className="tension-chart" role="img" aria-label={`Tension by turn; latest ${last}`} />;
}
