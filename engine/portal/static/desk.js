// Nightline operator console: keeps the desk queue live from the API's own event
// stream (/v1/desk/stream, authenticated by the portal cookie), ticks the ages,
// announces new alerts to screen readers and plays a short tone (Web Audio, no file).
"use strict";
(function () {
  const table = document.getElementById("desk-queue");
  if (!table) { return; }
  const rows = table.tBodies[0];
  const template = document.getElementById("desk-row");
  const empty = document.getElementById("desk-empty");
  const live = document.getElementById("desk-live");
  const announce = document.getElementById("desk-announce");
  const names = JSON.parse(table.dataset.names || "{}");
  const rank = { emergency: 0, urgent: 1, routine: 2 };
  let audio = null;

  function duration(seconds) {
    const whole = Math.round(seconds);
    if (whole < 60) { return whole + " s"; }
    const minutes = Math.floor(whole / 60);
    if (minutes < 60) { return minutes + " min" + (whole % 60 ? " " + (whole % 60) + " s" : ""); }
    const hours = Math.floor(minutes / 60);
    return hours + " h" + (minutes % 60 ? " " + (minutes % 60) + " min" : "");
  }
  function word(urgency) { return urgency.charAt(0).toUpperCase() + urgency.slice(1); }
  function practiceName(id) { return names[id] || id; }

  // Ages count from when the server said the alert was that old (no clock skew).
  function setAge(row, ageSeconds) { row.since = performance.now() - ageSeconds * 1000; }
  function tick() {
    for (const row of rows.rows) {
      row.querySelector(".age").textContent = duration((performance.now() - row.since) / 1000);
    }
  }
  for (const row of rows.rows) { setAge(row, Number(row.dataset.age || 0)); }

  function unlockAudio() {
    if (!audio && window.AudioContext) { audio = new window.AudioContext(); }
    if (audio && audio.state === "suspended") { audio.resume(); }
  }
  document.addEventListener("click", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });
  function tone() {
    unlockAudio();
    if (!audio) { return; }
    const start = audio.currentTime;
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.35);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(start);
    oscillator.stop(start + 0.4);
  }
  function say(text) {
    announce.textContent = "";
    window.setTimeout(function () { announce.textContent = text; }, 50);
  }

  function find(id) {
    for (const row of rows.rows) { if (row.dataset.dispatch === id) { return row; } }
    return null;
  }
  function fill(row, alert) {
    row.dataset.dispatch = alert.dispatch_id;
    row.dataset.urgency = alert.urgency;
    row.dataset.alerts = String(alert.alerts);
    const tag = row.querySelector(".tag");
    tag.className = "tag urgency-" + alert.urgency;
    tag.textContent = word(alert.urgency);
    row.querySelector(".practice").textContent = practiceName(alert.practice_id);
    row.querySelector(".reason").textContent = alert.reason;
    row.querySelector(".repeats").textContent =
      alert.alerts > 1 ? "(alerted " + alert.alerts + " times)" : "";
    const action = template.content.querySelector(".action").cloneNode(true);
    if (alert.claimed_by) {
      action.textContent = "Being claimed";
    } else {
      const form = action.querySelector("form");
      form.action = "/portal/desk/alerts/" + encodeURIComponent(alert.dispatch_id) + "/claim";
      form.querySelector("button").setAttribute("aria-label",
        "Claim the " + alert.urgency + " alert for " + practiceName(alert.practice_id));
    }
    row.cells[row.cells.length - 1].replaceWith(action);
    setAge(row, alert.age_seconds);
  }
  // Most urgent first, then oldest (earliest "since") first, as the server orders them.
  function before(a, b) {
    const ra = rank[a.dataset.urgency] ?? 3;
    const rb = rank[b.dataset.urgency] ?? 3;
    return ra < rb || (ra === rb && a.since < b.since);
  }
  function place(row) {
    for (const other of rows.rows) {
      if (other !== row && before(row, other)) { rows.insertBefore(row, other); return; }
    }
    rows.appendChild(row);
  }
  function shown() { empty.hidden = rows.rows.length > 0; }

  function onAlert(alert) {
    let row = find(alert.dispatch_id);
    const isNew = row === null;
    const again = !isNew && alert.alerts > Number(row.dataset.alerts || alert.alerts);
    if (isNew) { row = template.content.firstElementChild.cloneNode(true); }
    fill(row, alert);
    if (isNew) { place(row); }
    shown();
    if (isNew || again) {
      tone();
      say((isNew ? "New " : "Still waiting: ") + alert.urgency + " alert for " +
          practiceName(alert.practice_id) + ": " + alert.reason + ".");
    }
  }
  function onClosed(alert) {
    const row = find(alert.dispatch_id);
    if (row) { row.remove(); }
    shown();
  }

  // After a reconnection the stream sends every open alert again; alerts closed while
  // we were away are dropped by asking the queue once.
  function reconcile() {
    fetch("/v1/desk/alerts", { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (queue) {
        if (!queue) { return; }
        const open = new Set(queue.alerts.map(function (a) { return a.dispatch_id; }));
        for (const row of Array.from(rows.rows)) {
          if (!open.has(row.dataset.dispatch)) { row.remove(); }
        }
        shown();
      });
  }

  let interrupted = false;
  const stream = new EventSource("/v1/desk/stream");
  stream.addEventListener("open", function () {
    live.textContent = "Live updates: on.";
    if (interrupted) { reconcile(); interrupted = false; }
  });
  stream.addEventListener("alert", function (event) { onAlert(JSON.parse(event.data)); });
  stream.addEventListener("closed", function (event) { onClosed(JSON.parse(event.data)); });
  stream.addEventListener("error", function () {
    interrupted = true;
    live.textContent = stream.readyState === EventSource.CLOSED
      ? "Live updates stopped: reload the page (you may need to sign in again)."
      : "Live updates interrupted: reconnecting…";
  });
  window.setInterval(tick, 1000);
})();
