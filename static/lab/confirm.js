// Forms and links with data-confirm ask before they submit (no inline onsubmit handlers:
// the Content-Security-Policy allows script only from static files).
document.addEventListener("submit", function (e) {
  const form = e.target.closest ? e.target.closest("form[data-confirm]") : null;
  if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
}, true);
