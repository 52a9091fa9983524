// The dashboard is drawn server-side; this keeps it current: progress bar live, reload offered on a new version.
import { followProject, readConfig, showVersionBanner } from "./labeling.js";

const config = readConfig();
followProject(config, {
  onVersion: (version) => showVersionBanner(version, `Model version ${version} is ready.`),
});
document.body.dataset.ready = "1";
