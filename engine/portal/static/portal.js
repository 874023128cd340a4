// Nightline portal: our own script, no libraries. Idle logoff with a warning, and the
// CSRF header for the pages' own fetch calls (window.nightline.post).
"use strict";
(function () {
  const body = document.body;
  const csrf = body.dataset.csrf || "";
  window.nightline = {
    csrf: csrf,
    post: function (url, data) {
      return fetch(url, {
        method: "POST", credentials: "same-origin", redirect: "manual",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
        body: data === undefined ? undefined : JSON.stringify(data),
      });
    },
  };
  const idle = Number(body.dataset.idleSeconds || 0);
  if (!idle) { return; }
  const warnBefore = Math.min(120, Math.floor(idle / 3));
  const dialog = document.getElementById("idle-warning");
  const left = document.getElementById("idle-left");
  const signOut = document.getElementById("sign-out");
  // The session is shared by every tab of this browser, so is its last use: a tab
  // left open must not sign out the person working in another one.
  const SHARED = "nightline-last-use";
  function markUse() {
    try { window.localStorage.setItem(SHARED, String(Date.now())); } catch (e) { /* private mode */ }
    localUse = Date.now();
  }
  function lastUse() {
    let shared = 0;
    try { shared = Number(window.localStorage.getItem(SHARED) || 0); } catch (e) { /* none */ }
    return Math.max(localUse, shared);
  }
  let localUse = Date.now();
  markUse();  // this page was just served: a use of the session

  function secondsLeft() { return idle - (Date.now() - lastUse()) / 1000; }
  function tick() {
    const remaining = secondsLeft();
    if (remaining <= 2) {
      signOut.querySelector("input[name=reason]").value = "idle";
      signOut.submit();
      return;
    }
    if (remaining <= warnBefore) {
      left.textContent = Math.ceil(remaining) + " seconds";
      if (!dialog.open) { dialog.showModal(); document.getElementById("stay").focus(); }
    } else if (dialog.open) {
      dialog.close();  // another tab was used meanwhile
    }
    window.setTimeout(tick, 1000);
  }
  document.getElementById("stay").addEventListener("click", function () {
    window.nightline.post("/portal/keepalive").then(function (answer) {
      // 204 only: a signed-out session answers with a redirect to the sign-in page
      if (answer.status === 204) { markUse(); dialog.close(); }
      else { window.location.assign("/portal/sign-in?reason=idle"); }
    });
  });
  window.nightline.used = markUse;
  window.setTimeout(tick, 1000);
})();

// "Copy" buttons: data-copy names the input whose value goes to the clipboard.
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-copy]");
  if (!button) { return; }
  const field = document.getElementById(button.dataset.copy);
  field.select();
  if (navigator.clipboard) { navigator.clipboard.writeText(field.value); }
  button.textContent = "Copied";
});
