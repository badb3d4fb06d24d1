// The API documentation page (templates/api/docs.html): Swagger UI from ninja's bundled copy,
// configured from the JSON data block (no inline script: the site's CSP forbids it).
(function () {
  const settings = JSON.parse(document.getElementById("swagger-settings").textContent);
  settings.dom_id = "#swagger-ui";
  settings.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
  window.ui = SwaggerUIBundle(settings);
})();
