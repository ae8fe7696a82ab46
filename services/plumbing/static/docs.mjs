// Starts Swagger UI (swagger-ui-dist, pinned in package-lock.json and served by the service
// itself) on the OpenAPI document named by the page: a file of its own, so that the page's
// content security policy needs no inline script.
const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.openapi,
  domNode: root,
  deepLinking: false,
  validatorUrl: null,
});
