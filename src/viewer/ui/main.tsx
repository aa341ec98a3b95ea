/**
 * Entry point of the viewer page (bundled by scripts/build-viewer.mjs into
 * dist/viewer-ui/app.js).
 *
 * @module
 */
import { render } from "preact";
import { Api, mountBase } from "./api.js";
import { App } from "./app.js";

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App api={new Api(mountBase(location.pathname))} />, root);
}
