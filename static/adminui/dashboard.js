// Dashboard charts (Chart.js, vendored). Data comes from the page's json_script block.
(function () {
  "use strict";
  function start() {
    const node = document.getElementById("dashboard-data");
    if (!node || !window.Chart) return;
    const data = JSON.parse(node.textContent);
    const ink = "#1b1f24", grid = "#e7eaee", muted = "#5b6570";
    Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", sans-serif';
    Chart.defaults.color = muted;
    Chart.defaults.plugins.legend.labels.boxWidth = 12;
    Chart.defaults.animation = false;
    const axes = (extra) => ({
      x: Object.assign({ grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } }, extra && extra.x),
      y: Object.assign({ beginAtZero: true, grid: { color: grid }, ticks: { precision: 0 } }, extra && extra.y),
    });

    const d = data.decisions;
    new Chart(document.getElementById("chart-decisions"), {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: d.datasets.map((s) => ({ label: s.label, data: s.data, backgroundColor: s.color, borderWidth: 0, barPercentage: 0.9, categoryPercentage: 0.9 })),
      },
      options: {
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: axes({ x: { stacked: true }, y: { stacked: true, title: { display: true, text: "requests" } } }),
        plugins: {
          legend: { position: "top", align: "end" },
          tooltip: { filter: (item) => item.raw > 0 },
        },
      },
    });

    const l = data.latency;
    new Chart(document.getElementById("chart-latency"), {
      type: "bar",
      data: { labels: l.labels, datasets: [{ label: "answered", data: l.data, backgroundColor: "#56B4E9", borderRadius: 3 }] },
      options: {
        maintainAspectRatio: false,
        scales: axes({ x: { ticks: { autoSkip: false, maxRotation: 45, minRotation: 0, font: { size: 11 } } }, y: { title: { display: true, text: "escalations" } } }),
        plugins: { legend: { display: false } },
      },
    });

    const e = data.expiry;
    new Chart(document.getElementById("chart-expiry"), {
      type: "line",
      data: { labels: e.labels, datasets: [{ label: "expired %", data: e.data, borderColor: "#D55E00", backgroundColor: "rgba(213,94,0,.12)", fill: true, tension: 0.25, spanGaps: true, pointRadius: 3 }] },
      options: {
        maintainAspectRatio: false,
        scales: axes({ y: { suggestedMax: 20, ticks: { callback: (v) => v + "%" } } }),
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => c.raw === null ? "no escalations ended" : c.raw + "% expired" } } },
      },
    });

    const v = data.violators;
    new Chart(document.getElementById("chart-violators"), {
      type: "bar",
      data: { labels: v.labels, datasets: [{ label: "violations", data: v.data, backgroundColor: "#CC79A7", borderRadius: 3 }] },
      options: {
        indexAxis: "y", maintainAspectRatio: false,
        scales: { x: { beginAtZero: true, grid: { color: grid }, ticks: { precision: 0 } }, y: { grid: { display: false }, ticks: { color: ink } } },
        plugins: { legend: { display: false } },
      },
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
