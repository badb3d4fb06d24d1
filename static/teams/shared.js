// Share-link page: no websocket. Polls results.json under the link's own prefix; a
// revoked or expired link answers 404 and the page says so (and clears what it showed).
(function () {
  const statusEl = document.getElementById("ws-status");
  function gone() {
    document.querySelector("main").innerHTML =
      '<div class="notice error" id="share-gone">This link was revoked or has expired.</div>';
  }
  function poll() {
    fetch("results.json", { credentials: "omit", cache: "no-cache" }).then((r) => {
      if (r.status === 404) { gone(); return; }
      if (statusEl) { statusEl.textContent = "read-only link"; statusEl.className = "tag"; }
      setTimeout(poll, 10000);
    }).catch(() => setTimeout(poll, 10000));
  }
  setTimeout(poll, 10000);
})();
