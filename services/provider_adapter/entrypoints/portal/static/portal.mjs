// Progressive enhancement only: every page works without it. GOV.UK Frontend's components
// (the error summary's focus, the password reveal button) start here.
import { initAll } from "./govuk-frontend.min.js";

initAll();
